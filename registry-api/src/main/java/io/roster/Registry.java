package io.roster;

/**
 * A connection to one registry backend: registers instances and discovers services.
 *
 * <p>Thread-safe. {@link #close()} deregisters every instance this registry registered, closes its watchers,
 * stops its threads and closes the clients it created (not clients supplied by the caller). Open one with
 * {@link Registries#open(String)} or with a backend's builder.
 */
public interface Registry extends Registrar, Discovery, AutoCloseable {

    /**
     * Deregisters what this registry registered and releases everything it holds. Idempotent; never throws for a
     * backend that cannot be reached (the failure is logged and the instances expire by themselves).
     */
    @Override
    void close();
}
