package io.roster;

import java.util.List;

/**
 * Finds the live instances of a service, once or continuously.
 */
public interface Discovery {

    /**
     * Returns the live instances of a service now. When the backend cannot be reached but this registry watches
     * the service, the last list the watch saw is returned instead of failing.
     *
     * @param name the service name
     * @return the instances, sorted by id; empty when there are none
     * @throws InvalidInstanceException when the name breaks the naming rules
     * @throws RegistryUnavailableException when the backend cannot be reached and nothing is known
     * @throws RegistryClosedException when the registry is closed
     */
    List<ServiceInstance> getService(String name);

    /**
     * Watches a service. The watcher's first {@link Watcher#next()} returns the current list, even when it is
     * empty; each later call blocks until the list changes. Several watchers on one service share one
     * subscription to the backend.
     *
     * @param name the service name
     * @return a watcher; close it when done
     * @throws InvalidInstanceException when the name breaks the naming rules
     * @throws RegistryClosedException when the registry is closed
     */
    Watcher watch(String name);

    /**
     * Returns the names of the services that have at least one instance in the registry now, registered by any
     * process (as Spring's {@code DiscoveryClient.getServices()} does). A backend that splits an instance per
     * endpoint (Nacos, Eureka, Polaris) lists each service once, under the name {@link #getService} takes.
     *
     * @return the names, sorted, without duplicates; empty when the registry is empty
     * @throws RegistryUnavailableException when the backend cannot be reached
     * @throws RegistryClosedException when the registry is closed
     */
    List<String> services();
}
