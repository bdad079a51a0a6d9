package io.roster.memory;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.time.Duration;

/**
 * Serves {@code mem://<name>[?ttl=10s]}: the embedded {@link MemoryRegistry}. {@code mem://} alone is store
 * {@code default}.
 */
public final class MemoryRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public MemoryRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "mem";
    }

    @Override
    public Registry open(RegistryUri uri) {
        if (uri.hosts().size() > 1) {
            throw new InvalidOptionException("name", "mem URI takes one store name, such as mem://demo, was " + uri);
        }
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "mem URI takes no path, such as mem://demo, was " + uri);
        }
        Duration ttl = uri.options().duration("ttl", Duration.ofSeconds(10));
        uri.options().requireAllKnown();
        String name = uri.hosts().isEmpty() ? "default" : uri.hosts().get(0);
        return MemoryRegistry.builder().name(name).ttl(ttl).build();
    }
}
