package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;

/**
 * One way of registering instances and watching a service: through Roster, or with the backend's own client. A
 * side writes with one client and watches with another, as a registering service and a consumer would.
 */
interface Side extends AutoCloseable {

    /**
     * Registers an instance and returns once the backend has acknowledged it.
     *
     * @param instance the instance
     * @throws Exception when the backend refuses or fails
     */
    void register(ServiceInstance instance) throws Exception;

    /**
     * Removes an instance and returns once the backend has acknowledged it.
     *
     * @param instance an instance this side registered
     * @throws Exception when the backend refuses or fails
     */
    void deregister(ServiceInstance instance) throws Exception;

    /**
     * Returns the watching client's view of the service.
     *
     * @return the observer
     */
    Observer observer();

    /** Closes both clients; failures are reported, not thrown. */
    @Override
    void close();
}
