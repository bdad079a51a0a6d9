package io.roster.polaris;

import io.roster.RegistryException;
import io.roster.ServiceInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Follows one requested name for watchers: re-reads its Polaris services from the SDK's cache and pushes the full
 * list. The SDK refreshes its cache from the server by itself (every 2 s by default) and reports each change to the
 * registry's listener, which triggers a re-read; a re-read once a second also catches what no event announces (a
 * service that did not exist when the watch started, the SDK dropping an expired cache entry). An equal list wakes
 * nobody ({@link io.roster.spi.WatchHub}); while Polaris is unreachable the SDK keeps serving its cache, and a read
 * that fails pushes nothing, so watchers keep the last list.
 */
final class PolarisWatch {
    private static final Logger LOG = LoggerFactory.getLogger(PolarisWatch.class);

    private final PolarisRegistry registry;
    private final String name;
    private final List<String> services;
    private final Consumer<List<ServiceInstance>> sink;
    private Map<String, ServiceInstance> previous = Map.of(); // guarded by this
    private boolean closed; // guarded by this

    PolarisWatch(PolarisRegistry registry, String name, Consumer<List<ServiceInstance>> sink) {
        this.registry = registry;
        this.name = name;
        this.services = registry.services(name);
        this.sink = sink;
    }

    /** Whether a change of this Polaris service concerns this watch. */
    boolean follows(String service) {
        return services.contains(service);
    }

    /** The first read: its failure fails the watch. */
    void refreshOrThrow() {
        read(true);
    }

    /** A later read: a failure pushes nothing and waits for the next trigger. */
    void refresh() {
        read(false);
    }

    private synchronized void read(boolean first) {
        if (closed) {
            return;
        }
        List<ServiceInstance> list;
        try {
            list = registry.read(name, previous);
        } catch (RegistryException e) {
            if (first) {
                throw e;
            }
            LOG.debug("Watch of '{}': cannot read now, keeping the last list: {}", name, e.getMessage());
            return;
        }
        Map<String, ServiceInstance> byId = new HashMap<>();
        list.forEach(i -> byId.put(i.id(), i));
        previous = byId;
        sink.accept(list);
    }

    synchronized void close() {
        closed = true;
    }
}
