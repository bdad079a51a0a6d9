package io.roster.grpc;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A registry in front of a real one whose watches can be made to fail ({@link #failWatches}) or to hold their first
 * list back until {@link #answer()}, as a backend that is unreachable at start-up does.
 */
final class GatedRegistry implements Registry {
    private final Registry delegate;
    private final CountDownLatch answering = new CountDownLatch(1);
    final AtomicInteger watches = new AtomicInteger();
    volatile RuntimeException failWatches;

    GatedRegistry(Registry delegate, boolean answering) {
        this.delegate = delegate;
        if (answering) {
            answer();
        }
    }

    void answer() {
        answering.countDown();
    }

    @Override
    public Watcher watch(String name) {
        watches.incrementAndGet();
        RuntimeException failure = failWatches;
        if (failure != null) {
            throw failure;
        }
        Watcher watcher = delegate.watch(name);
        return new Watcher() {
            private boolean first = true;

            @Override
            public String service() {
                return watcher.service();
            }

            @Override
            public List<ServiceInstance> next() throws InterruptedException {
                if (first) {
                    first = false;
                    answering.await();
                }
                return watcher.next();
            }

            @Override
            public Optional<List<ServiceInstance>> next(Duration timeout) throws InterruptedException {
                throw new UnsupportedOperationException();
            }

            @Override
            public void close() {
                watcher.close(); // one held at the gate is woken by the feed's interrupt
            }
        };
    }

    @Override
    public void register(ServiceInstance instance) {
        delegate.register(instance);
    }

    @Override
    public void deregister(ServiceInstance instance) {
        delegate.deregister(instance);
    }

    @Override
    public List<ServiceInstance> getService(String name) {
        return delegate.getService(name);
    }

    @Override
    public List<String> services() {
        return delegate.services();
    }

    @Override
    public void close() {
        delegate.close();
    }

    @Override
    public String toString() {
        return "GatedRegistry{" + delegate + '}';
    }
}
