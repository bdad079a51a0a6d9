package io.roster.memory;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.InstanceJson;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;

/**
 * Reads a {@code mem://} store as it is: each live instance at {@code mem://<store>/<name>/<id>}. The store holds
 * only instances that passed the builder's rules, so the problems it can have are those of a valid instance: no
 * endpoint (allowed by the core rules, useless to a caller).
 */
public final class MemoryInspector implements Inspector {

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public MemoryInspector() {
    }

    @Override
    public String scheme() {
        return "mem";
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof MemoryRegistry)) {
            return Inspection.generic(registry, service, "not a MemoryRegistry", (done, total) -> { });
        }
        MemoryStore store = ((MemoryRegistry) registry).store();
        String root = "mem://" + store.name() + "/";
        Inspection.Builder builder = Inspection.builder("instances in store " + store.name() + " (this JVM)");
        Collection<String> names = service == null ? new TreeSet<>(store.services()) : List.of(service);
        for (String name : names) {
            List<ServiceInstance> instances = new ArrayList<>(store.get(name));
            instances.sort(Comparator.comparing(ServiceInstance::id));
            for (ServiceInstance instance : instances) {
                builder.instance(root + name + "/" + instance.id(), name, InstanceJson.encode(instance), instance);
            }
        }
        return builder.build();
    }
}
