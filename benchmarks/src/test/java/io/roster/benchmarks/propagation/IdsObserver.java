package io.roster.benchmarks.propagation;

import java.util.Collection;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A raw client's view: the ids of the instances it has heard of, kept from its events (etcd, ZooKeeper) or
 * replaced by each poll (Eureka).
 */
final class IdsObserver extends Observer {
    private volatile Set<String> ids = ConcurrentHashMap.newKeySet();

    /** Adds an id; call {@link #seen} after the event's last change. */
    void add(String id) {
        ids.add(id);
    }

    /** Removes an id; call {@link #seen} after the event's last change. */
    void remove(String id) {
        ids.remove(id);
    }

    /** Replaces the view with a poll's answer and reports it. */
    void replace(Collection<String> all, long at) {
        Set<String> next = ConcurrentHashMap.newKeySet(all.size());
        next.addAll(all);
        ids = next;
        seen(at);
    }

    /** Reports the changes added and removed since the last call. */
    void changed(long at) {
        seen(at);
    }

    @Override
    protected boolean holds(String id) {
        return ids.contains(id);
    }

    @Override
    protected int size() {
        return ids.size();
    }
}
