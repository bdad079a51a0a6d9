package io.roster.cli;

import io.roster.Registry;
import io.roster.memory.MemoryRegistry;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

/**
 * {@code plain://<store>}: a backend without an inspector, for tests of the generic check. Its registries are
 * {@code mem://} registries on the store of that name, so tests fill them through {@code mem://<store>}.
 */
public final class PlainRegistryProvider implements RegistryProvider {

    @Override
    public String scheme() {
        return "plain";
    }

    @Override
    public Registry open(RegistryUri uri) {
        uri.options().requireAllKnown();
        return MemoryRegistry.builder().name(uri.hosts().get(0)).build();
    }
}
