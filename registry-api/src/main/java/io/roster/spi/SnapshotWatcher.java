package io.roster.spi;

import io.roster.InvalidOptionException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The whole {@link Watcher} contract in one place: it holds the newest list it was given and the one it last
 * returned, and {@code next()} waits until they differ. Fed by {@link WatchHub}.
 */
final class SnapshotWatcher implements Watcher {
    private final String service;
    private final Runnable onClose;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private List<ServiceInstance> latest;
    private List<ServiceInstance> returned;
    private boolean closed;

    SnapshotWatcher(String service, Runnable onClose) {
        this.service = service;
        this.onClose = onClose;
    }

    /** Offers the newest full list; wakes a waiting {@code next()} when it differs from what it last returned. */
    void publish(List<ServiceInstance> instances) {
        lock.lock();
        try {
            latest = instances;
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
            return take();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<List<ServiceInstance>> next(Duration timeout) throws InterruptedException {
        if (timeout == null) {
            throw new InvalidOptionException("timeout", "timeout of next(Duration) must not be null");
        }
        long nanos = saturatedNanos(timeout);
        lock.lock();
        try {
            while (!ready()) {
                if (nanos <= 0) {
                    return Optional.empty();
                }
                nanos = changed.awaitNanos(nanos);
            }
            return Optional.of(take());
        } finally {
            lock.unlock();
        }
    }

    private static long saturatedNanos(Duration timeout) {
        try {
            return timeout.toNanos();
        } catch (ArithmeticException e) {
            return timeout.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE; // beyond 292 years: forever enough
        }
    }

    private boolean ready() {
        if (closed) {
            throw new WatcherClosedException("watcher on service '" + service + "' is closed");
        }
        if (latest == null || latest == returned) {
            return false;
        }
        if (returned != null && latest.equals(returned)) {
            // A -> B -> A between two calls is no change; remember by identity so the next check is cheap.
            returned = latest;
            return false;
        }
        return true;
    }

    private List<ServiceInstance> take() {
        returned = latest;
        return latest;
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        onClose.run();
    }

    @Override
    public String toString() {
        return "Watcher{service=" + service + (closed ? ", closed" : "") + '}';
    }
}
