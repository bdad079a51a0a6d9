package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A backend under test: its real server(s), Roster's URI for them, and the backend's own client doing what Roster
 * does. Every method but {@link #start()} runs against started servers; {@link #close()} stops them.
 */
interface Backend extends AutoCloseable {

    /**
     * Returns the name used by {@code --only}.
     *
     * @return such as {@code etcd-cluster}
     */
    String name();

    /**
     * Returns the backend as the report shows it.
     *
     * @return such as {@code etcd (3 members)}
     */
    String label();

    /**
     * Describes the server(s) and their versions, once started.
     *
     * @return such as {@code etcd 3.4.23, data in /dev/shm}
     */
    String server();

    /**
     * Describes what the raw client does.
     *
     * @return such as {@code jetcd put/delete → prefix watch event}
     */
    String raw();

    /**
     * Starts the server(s). Each process is handed to {@code cleanup}, which kills it if the JVM exits first.
     *
     * @param cleanup the run's cleanup
     * @throws Exception when a server does not start
     */
    void start(Cleanup cleanup) throws Exception;

    /**
     * Returns Roster's URI for the server(s), with the backend's default options (and the polling period where
     * the backend polls).
     *
     * @return the URI for {@code Registries.open}
     */
    String rosterUri();

    /**
     * Opens the raw client's side: one client writing, another watching {@code service}.
     *
     * @param service the service
     * @return the side
     * @throws Exception when the server cannot be reached
     */
    Side rawSide(String service) throws Exception;

    /**
     * Puts instances in bulk, cheaply, as another program registering them would.
     *
     * @param instances the instances
     * @return removes them
     * @throws Exception when the server fails
     */
    AutoCloseable preload(List<ServiceInstance> instances) throws Exception;

    /**
     * Returns the polling period of the watching clients, or zero for a backend that pushes changes. Trials on a
     * polling backend start at a random point of the period.
     *
     * @return the period
     */
    default Duration pollPeriod() {
        return Duration.ZERO;
    }

    /**
     * Returns the raw client's first-list probe for the service, when this backend takes part in that comparison.
     *
     * @param service the service, already preloaded
     * @return a probe, or null
     * @throws Exception when the server cannot be reached
     */
    default FirstList.Probe firstListProbe(String service) throws Exception {
        return null;
    }

    /**
     * Reads the server's counters.
     *
     * @return requests so far, and server-wide gauges
     * @throws Exception when the server cannot be read
     */
    Load load() throws Exception;

    /**
     * Tells what the server holds for a service's instances: the leases or sessions they hang on, or the leases
     * themselves where each instance has its own. Reading it may cost requests, so the keepalive measurement asks
     * outside its counting window.
     *
     * @param service the service
     * @return counts by name, such as {@code leases}
     * @throws Exception when the server cannot be read
     */
    Map<String, Long> held(String service) throws Exception;

    /**
     * Registers instances with the raw client and keeps them alive as Roster does (same lease, session or renewal
     * period as Roster's default).
     *
     * @param instances the instances
     * @return stops keeping them alive and removes them
     * @throws Exception when the server fails
     */
    AutoCloseable rawKeepalive(List<ServiceInstance> instances) throws Exception;

    /**
     * Describes the keepalive settings of both clients.
     *
     * @return such as {@code lease TTL 15 s}
     */
    String keepaliveSettings();

    /** Stops the server(s). */
    @Override
    void close();

    /**
     * The server's request counter and server-wide gauges.
     *
     * @param requests requests counted so far (what is counted: {@code unit})
     * @param unit what {@code requests} counts
     * @param gauges server-wide counts whose change a client causes (ZooKeeper's watches), by name
     */
    record Load(long requests, String unit, Map<String, Long> gauges) {
    }
}
