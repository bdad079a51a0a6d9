package io.roster.spi;

import io.roster.ServiceInstance;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A backend for tests of {@link AbstractRegistry}: an in-memory map, with every backend call running a hook first
 * that the test may set to block or throw.
 */
class FakeRegistry extends AbstractRegistry {
    /** Runs before a backend call; may throw anything or block. */
    @FunctionalInterface
    interface Hook {
        void run(String call, ServiceInstance instance) throws Exception;
    }

    final Map<String, ServiceInstance> store = new ConcurrentHashMap<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    final List<WatchHub.Sink> sinks = new CopyOnWriteArrayList<>();
    volatile Hook hook = (call, instance) -> { };
    volatile Consumer<Collection<ServiceInstance>> deregisterAllOverride;
    volatile java.time.Duration closeTimeout = java.time.Duration.ofSeconds(30);
    volatile boolean shutDown;

    FakeRegistry() {
        super("fake at 127.0.0.1:1");
    }

    private void before(String call, ServiceInstance instance) {
        calls.add(call + (instance == null ? "" : " " + instance.id()));
        try {
            hook.run(call, instance);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw FakeRegistry.<RuntimeException>sneaky(e);
        }
    }

    @SuppressWarnings("unchecked")
    static <T extends Throwable> T sneaky(Throwable e) throws T {
        throw (T) e; // a checked exception thrown where none is declared, as some client libraries do
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        before("register", instance);
        store.put(instance.id(), instance);
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        before("deregister", instance);
        store.remove(instance.id());
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        before("getService", null);
        return List.copyOf(store.values());
    }

    @Override
    protected Collection<String> doServices() {
        before("services", null);
        return store.values().stream().map(ServiceInstance::name).toList();
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        before("subscribe", null);
        sinks.add(sink);
        sink.accept(List.copyOf(store.values()));
        return () -> sinks.remove(sink);
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        if (deregisterAllOverride != null) {
            deregisterAllOverride.accept(instances);
            return;
        }
        super.deregisterAll(instances);
    }

    @Override
    protected java.time.Duration closeTimeout() {
        return closeTimeout;
    }

    @Override
    protected void shutdown() {
        before("shutdown", null);
        shutDown = true;
    }

    void kill() {
        abandon();
    }
}
