package io.roster.testkit;

import io.roster.Registry;
import io.roster.ServiceInstance;

import java.time.Duration;
import java.util.List;

/**
 * What the contract suite needs to know about a backend: how to open a registry against the server under test,
 * how to make one die without deregistering, and the time bounds the backend promises.
 */
public interface RegistryFixture {

    /**
     * Opens a new, independent registry client against the server under test (as a separate process would).
     *
     * @return an open registry; the suite closes it
     */
    Registry open();

    /**
     * Makes a registry die as a crashed process would: it stops keeping its instances alive and releases its
     * connections, but deregisters nothing.
     *
     * @param registry a registry returned by {@link #open()}
     */
    void kill(Registry registry);

    /**
     * Returns the bound within which the instances of a killed registry must vanish from discovery (lease TTL,
     * session timeout, TTL check, eviction, plus propagation).
     *
     * @return the bound
     */
    Duration deathBound();

    /**
     * Returns the bound within which a change must reach {@code getService} and watchers of another registry.
     *
     * @return 10 s by default
     */
    default Duration propagationBound() {
        return Duration.ofSeconds(10);
    }

    /**
     * Returns how long the suite waits to conclude that a watcher was <em>not</em> woken. Polling backends should
     * make it cover at least one refresh.
     *
     * @return 1 s by default
     */
    default Duration quietPeriod() {
        return Duration.ofSeconds(1);
    }

    /**
     * Tells whether a thread may outlive a closed registry because it is not the registry's: the server's own
     * threads when the server runs in the test JVM. Threads of the client library must not be excused.
     *
     * @param thread a thread alive after close
     * @return true to ignore it
     */
    default boolean isServerThread(Thread thread) {
        return false;
    }

    /**
     * Returns instances that are valid for the core API but break this backend's own rules (Consul's metadata key
     * rules, for instance). {@code register} must reject each with an {@link io.roster.InvalidInstanceException}
     * and send nothing.
     *
     * @param service the service name to use
     * @return such instances; none by default
     */
    default List<ServiceInstance> backendInvalidInstances(String service) {
        return List.of();
    }
}
