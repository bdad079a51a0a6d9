package io.roster.spi;

import io.roster.RegistryClosedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Turns a backend's stream of lists into {@link Watcher}s. A backend implements one {@link Source}: given a
 * service name and a {@link Sink}, start following that service and push into the sink (from any thread, in
 * order) either every full list, or a first set of records and then each change to them. The hub does the rest,
 * once for every backend:
 *
 * <ul>
 *   <li>all watchers of one service share one subscription, opened with the first and closed with the last;</li>
 *   <li>lists are sorted by id and made immutable; an equal list wakes nobody; the newest list wins;</li>
 *   <li>a watcher added later starts from the current list;</li>
 *   <li>nothing is pushed on an outage, so watchers keep the last list until the backend pushes again.</li>
 * </ul>
 *
 * <p>A change pushed through {@link Sink#apply} costs the hub O(k log n) comparisons for k changed records plus
 * one copy of the n references of the new list, whatever the service's size: unchanged instances are never
 * compared, decoded or sorted again.
 */
public final class WatchHub implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WatchHub.class);
    static final Comparator<ServiceInstance> ORDER =
            Comparator.comparing(ServiceInstance::id).thenComparing(ServiceInstance::name);

    /** A backend's way to follow one service. */
    @FunctionalInterface
    public interface Source {
        /**
         * Starts following a service. May push the first list before returning, or later from another thread.
         * Must keep following (reconnecting, resyncing) until the subscription is closed; an outage simply pushes
         * nothing.
         *
         * @param service the service name, already validated
         * @param sink receives the service's live instances, in order
         * @return closes the subscription; called once, when the last watcher of the service closes
         */
        Subscription subscribe(String service, Sink sink);
    }

    /**
     * Where a source pushes one service's live instances: whole lists ({@link #accept}), or records keyed by the
     * source's own record key (an etcd key, a znode path) — all of them ({@link #reset}), then the changes
     * ({@link #apply}). Calls must be made in order (one at a time); a whole list replaces every record.
     */
    public interface Sink extends Consumer<List<ServiceInstance>> {
        /**
         * Replaces the whole list.
         *
         * @param instances every live instance, in any order
         */
        @Override
        void accept(List<ServiceInstance> instances);

        /**
         * Replaces every record, keyed by the source's record key (a first read, a resync after an outage).
         *
         * @param records every live instance by its record key
         */
        void reset(Map<String, ServiceInstance> records);

        /**
         * Applies changes to the records of the last {@link #reset} and {@code apply} calls.
         *
         * @param put records added or replaced, by key
         * @param removed keys of records removed; unknown keys are ignored
         */
        void apply(Map<String, ServiceInstance> put, Collection<String> removed);
    }

    /** An open subscription to one service. */
    @FunctionalInterface
    public interface Subscription extends AutoCloseable {
        /** Stops following the service and releases what the subscription holds; does not throw. */
        @Override
        void close();
    }

    private final Source source;
    private final Map<String, Topic> topics = new HashMap<>();
    private boolean closed;

    /**
     * Creates a hub.
     *
     * @param source how the backend follows one service
     */
    public WatchHub(Source source) {
        this.source = source;
    }

    /**
     * Opens a watcher on a service, subscribing to it if nobody watches it yet.
     *
     * @param service the service name, already validated
     * @return the watcher
     * @throws RegistryClosedException when the hub is closed
     * @throws RuntimeException whatever the source throws when subscribing fails; nothing is left behind
     */
    public Watcher watch(String service) {
        Topic topic;
        SnapshotWatcher watcher;
        synchronized (this) {
            if (closed) {
                throw new RegistryClosedException("registry is closed");
            }
            topic = topics.computeIfAbsent(service, Topic::new);
            watcher = topic.add();
        }
        try {
            topic.start();
        } catch (Throwable e) {
            watcher.close(); // whatever the source threw, an Error included: nothing is left behind
            throw e;
        }
        return watcher;
    }

    /**
     * Returns the current list of a watched service, as its subscription last pushed it.
     *
     * @param service the service name
     * @return the list, or empty when nobody watches the service or nothing has arrived yet
     */
    public Optional<List<ServiceInstance>> current(String service) {
        Topic topic;
        synchronized (this) {
            topic = topics.get(service);
        }
        return topic == null ? Optional.empty() : Optional.ofNullable(topic.current());
    }

    /**
     * Closes every watcher and subscription. Idempotent.
     */
    @Override
    public void close() {
        List<Topic> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(topics.values());
        }
        for (Topic topic : all) {
            topic.closeAll();
        }
    }

    private void release(Topic topic, SnapshotWatcher watcher) {
        boolean last;
        synchronized (this) {
            last = topic.remove(watcher);
            if (last && topics.get(topic.service) == topic) {
                topics.remove(topic.service);
            }
        }
        if (last) {
            topic.stop();
        }
    }

    /** One watched service: its subscription, its last list and its watchers. */
    private final class Topic {
        final String service;
        // Written under the hub's lock; read without it when publishing, hence copy-on-write. Lock order: hub, then
        // topic, then watcher.
        private final List<SnapshotWatcher> watchers = new CopyOnWriteArrayList<>();
        private final Object startLock = new Object();
        private Subscription subscription; // guarded by startLock
        private boolean stopped; // guarded by startLock
        private List<ServiceInstance> last; // guarded by this
        private Records records; // guarded by this; the keyed records behind last, null after a whole list

        Topic(String service) {
            this.service = service;
        }

        SnapshotWatcher add() {
            SnapshotWatcher[] holder = new SnapshotWatcher[1];
            holder[0] = new SnapshotWatcher(service, () -> release(this, holder[0]));
            watchers.add(holder[0]);
            synchronized (this) {
                // Under the topic's lock, so that a push in progress cannot overtake this older list.
                if (last != null) {
                    holder[0].publish(last);
                }
            }
            return holder[0];
        }

        boolean remove(SnapshotWatcher watcher) {
            return watchers.remove(watcher) && watchers.isEmpty();
        }

        void start() {
            synchronized (startLock) {
                if (subscription != null || stopped) {
                    return;
                }
                subscription = source.subscribe(service, new Sink() {
                    @Override
                    public void accept(List<ServiceInstance> instances) {
                        publish(instances);
                    }

                    @Override
                    public void reset(Map<String, ServiceInstance> all) {
                        publish(Records.of(all));
                    }

                    @Override
                    public void apply(Map<String, ServiceInstance> put, Collection<String> removed) {
                        change(put, removed);
                    }
                });
            }
        }

        void stop() {
            Subscription s;
            synchronized (startLock) {
                stopped = true;
                s = subscription;
                subscription = null;
            }
            if (s != null) {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    LOG.warn("Closing the subscription to service '{}' failed: {}", service,
                            Failures.describe(e));
                }
            }
        }

        void closeAll() {
            watchers.forEach(SnapshotWatcher::close);
            stop();
        }

        synchronized List<ServiceInstance> current() {
            return last;
        }

        void publish(List<ServiceInstance> instances) {
            List<ServiceInstance> sorted = new ArrayList<>(instances);
            sorted.sort(ORDER);
            List<ServiceInstance> list = List.copyOf(sorted);
            synchronized (this) {
                records = null;
                deliver(list);
            }
        }

        void publish(Records all) {
            synchronized (this) {
                records = all;
                deliver(all.list());
            }
        }

        void change(Map<String, ServiceInstance> put, Collection<String> removed) {
            synchronized (this) {
                if (records == null) {
                    records = Records.of(Map.of()); // changes without a reset start from nothing
                }
                if (records.apply(put, removed)) {
                    deliver(records.list());
                }
            }
        }

        /** Called under this topic's lock, so two pushes cannot reach watchers out of order. */
        private void deliver(List<ServiceInstance> list) {
            if (list.equals(last)) {
                return;
            }
            last = list;
            watchers.forEach(w -> w.publish(list));
        }
    }
}
