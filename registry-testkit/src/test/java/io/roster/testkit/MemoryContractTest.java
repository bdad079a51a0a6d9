package io.roster.testkit;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.memory.MemoryRegistry;

import java.time.Duration;
import java.util.UUID;

/** The contract suite on the embedded {@code mem://} registry, opened through {@link Registries}. */
class MemoryContractTest extends RegistryContract {
    private final String store = "contract-" + UUID.randomUUID();

    @Override
    protected RegistryFixture fixture() {
        return new RegistryFixture() {
            @Override
            public Registry open() {
                return Registries.open("mem://" + store + "?ttl=1s");
            }

            @Override
            public void kill(Registry registry) {
                ((MemoryRegistry) registry).kill();
            }

            @Override
            public Duration deathBound() {
                return Duration.ofSeconds(3); // ttl 1 s + one renewal period + slack
            }

            @Override
            public Duration quietPeriod() {
                return Duration.ofMillis(300);
            }
        };
    }
}
