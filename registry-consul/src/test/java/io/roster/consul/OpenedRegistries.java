package io.roster.consul;

import io.roster.Registry;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.ArrayList;
import java.util.List;

/** Closes, after each test, the registries a test opened through {@link #track}. */
final class OpenedRegistries implements AfterEachCallback {
    private final List<Registry> opened = new ArrayList<>();

    <R extends Registry> R track(R registry) {
        opened.add(registry);
        return registry;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        opened.forEach(Registry::close);
        opened.clear();
    }
}
