package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;

/** The contract suite against a real etcd, opened through {@link Registries} as users do. */
class EtcdContractTest extends RegistryContract {
    private static EtcdServer etcd;

    @BeforeAll
    static void startEtcd() {
        etcd = EtcdServer.start();
    }

    @AfterAll
    static void stopEtcd() {
        etcd.close();
    }

    @Override
    protected RegistryFixture fixture() {
        return new RegistryFixture() {
            @Override
            public Registry open() {
                return Registries.open("etcd://" + etcd.endpoint() + "/roster-contract?ttl=2s&timeout=3s");
            }

            @Override
            public void kill(Registry registry) {
                ((EtcdRegistry) registry).kill();
            }

            @Override
            public Duration deathBound() {
                return Duration.ofSeconds(12); // TTL 2 s, etcd's expiry sweep, propagation; generous for a loaded CI
            }
        };
    }
}
