package io.roster.spi;

import io.roster.Registry;

/**
 * Opens registries for one URI scheme. Backends list their provider in
 * {@code META-INF/services/io.roster.spi.RegistryProvider}; {@link io.roster.Registries} finds it with
 * {@link java.util.ServiceLoader}, as grpc-java finds its {@code NameResolverProvider}s.
 */
public interface RegistryProvider {

    /**
     * Returns the URI scheme this provider serves.
     *
     * @return such as {@code etcd}, lower-case
     */
    String scheme();

    /**
     * Tells whether the provider can work in this JVM (its client library is present, for instance).
     * Unavailable providers are ignored.
     *
     * @return true by default
     */
    default boolean isAvailable() {
        return true;
    }

    /**
     * Breaks ties when several providers serve one scheme: the highest priority wins.
     *
     * @return 5 by default, as in grpc-java
     */
    default int priority() {
        return 5;
    }

    /**
     * Opens a registry. Reads every option it understands from {@code uri.options()} and then calls
     * {@link Options#requireAllKnown()}, so that a misspelt option fails instead of being ignored.
     *
     * @param uri the parsed URI
     * @return an open registry
     * @throws io.roster.InvalidOptionException when an option is unknown or has a bad value
     * @throws io.roster.RegistryUnavailableException when the backend cannot be reached at all
     */
    Registry open(RegistryUri uri);
}
