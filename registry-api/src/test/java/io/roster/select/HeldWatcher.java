package io.roster.select;

import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A watcher whose lists arrive only when the test publishes them: a backend that is unreachable at start-up, as
 * a registry's watcher is then (its first {@code next()} waits until the backend answers).
 */
final class HeldWatcher implements Watcher {
    private final String service;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private List<ServiceInstance> latest;
    private List<ServiceInstance> returned;
    private boolean closed;

    HeldWatcher(String service) {
        this.service = service;
    }

    /** The backend answers: the watcher now holds this list. */
    void publish(List<ServiceInstance> list) {
        lock.lock();
        try {
            latest = List.copyOf(list);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String service() {
        return service;
    }

    @Override
    public List<ServiceInstance> next() throws InterruptedException {
        lock.lock();
        try {
            while (!ready()) {
                changed.await();
            }
            returned = latest;
            return latest;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<List<ServiceInstance>> next(Duration timeout) throws InterruptedException {
        long nanos = timeout.toNanos();
        lock.lock();
        try {
            while (!ready()) {
                if (nanos <= 0) {
                    return Optional.empty();
                }
                nanos = changed.awaitNanos(nanos);
            }
            returned = latest;
            return Optional.of(latest);
        } finally {
            lock.unlock();
        }
    }

    private boolean ready() {
        if (closed) {
            throw new WatcherClosedException("watcher on service '" + service + "' is closed");
        }
        return latest != null && latest != returned;
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
