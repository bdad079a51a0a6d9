package io.roster;

/**
 * Registers service instances with a registry and keeps them alive there.
 *
 * <p>{@link #register} returns once the backend has acknowledged the instance. From then on the registrar keeps
 * it alive with the backend's own mechanism (lease, session, TTL check, heartbeat) and, if the backend loses it
 * (lease expired, session expired, server restarted), registers it again by itself, with backoff and without a
 * retry ceiling, until {@link #deregister} or {@link Registry#close()}.
 */
public interface Registrar {

    /**
     * Registers an instance, or updates it when an instance with the same name and id is registered already.
     *
     * @param instance the instance; already validated by its builder
     * @throws InvalidInstanceException when the backend has stricter rules the instance breaks (nothing is sent)
     * @throws RegistryUnavailableException when the backend does not acknowledge in time
     * @throws RegistryAccessDeniedException when the backend refuses the credentials
     * @throws RegistryClosedException when the registry is closed
     */
    void register(ServiceInstance instance);

    /**
     * Removes an instance at once and stops everything that kept it alive; it never comes back afterwards.
     * Deregistering an instance that this registry did not register is not an error and touches nothing: a
     * record another process (or another registry) keeps is theirs to remove.
     *
     * @param instance the instance to remove; matched by name and id
     * @throws RegistryUnavailableException when the backend does not acknowledge in time (the instance is still
     *     no longer kept alive, so it disappears when its lease, session or TTL runs out)
     */
    void deregister(ServiceInstance instance);
}
