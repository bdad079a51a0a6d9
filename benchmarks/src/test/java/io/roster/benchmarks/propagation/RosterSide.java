package io.roster.benchmarks.propagation;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;

import java.util.List;

/**
 * Roster on any backend, through its public API only ({@code Registries.open}), so that the harness measures
 * whatever the backend module on the classpath does: one registry registers, another watches the service, and a
 * thread of the harness takes each list from {@link Watcher#next()} as an application would.
 */
final class RosterSide implements Side {
    private final Registry writer;
    private final Registry reader;
    private final Watcher watcher;
    private final ListObserver observer = new ListObserver();
    private final Thread taker;

    /**
     * Opens both registries and the watch.
     *
     * @param uri the registry URI
     * @param service the service to watch
     */
    RosterSide(String uri, String service) {
        Registry w = Registries.open(uri);
        Registry r = null;
        try {
            r = Registries.open(uri);
            this.watcher = r.watch(service);
        } catch (RuntimeException e) {
            w.close();
            if (r != null) {
                r.close();
            }
            throw e;
        }
        this.writer = w;
        this.reader = r;
        this.taker = new Thread(this::take, "bench-roster-watch-" + service);
        taker.setDaemon(true);
        taker.start();
    }

    private void take() {
        try {
            while (true) {
                List<ServiceInstance> list = watcher.next();
                observer.update(list, System.nanoTime());
            }
        } catch (WatcherClosedException | InterruptedException e) {
            // closed: the side is done
        }
    }

    @Override
    public void register(ServiceInstance instance) {
        writer.register(instance);
    }

    @Override
    public void deregister(ServiceInstance instance) {
        writer.deregister(instance);
    }

    @Override
    public Observer observer() {
        return observer;
    }

    @Override
    public void close() {
        watcher.close();
        try {
            taker.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        reader.close();
        writer.close();
    }

    /** The watcher's last list, sorted by id as the watch contract promises, so a lookup is a binary search. */
    private static final class ListObserver extends Observer {
        private volatile List<ServiceInstance> list = List.of();

        void update(List<ServiceInstance> next, long at) {
            list = next;
            seen(at);
        }

        @Override
        protected boolean holds(String id) {
            List<ServiceInstance> l = list;
            int low = 0;
            int high = l.size() - 1;
            while (low <= high) {
                int mid = (low + high) >>> 1;
                int c = l.get(mid).id().compareTo(id);
                if (c == 0) {
                    return true;
                }
                if (c < 0) {
                    low = mid + 1;
                } else {
                    high = mid - 1;
                }
            }
            return false;
        }

        @Override
        protected int size() {
            return list.size();
        }
    }
}
