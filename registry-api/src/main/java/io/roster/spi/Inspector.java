package io.roster.spi;

import io.roster.Registry;

import java.util.Optional;

/**
 * Reads a registry's records as they are stored, under the backend's own layout, and names what is wrong with
 * them: for tools such as {@code roster check}, which must see what {@link io.roster.Discovery} skips (a key with
 * an empty service name, a record that does not decode, a record filed under another service's name).
 *
 * <p>A backend lists its inspector in {@code META-INF/services/io.roster.spi.Inspector}; tools find it with
 * {@link java.util.ServiceLoader} by {@link #scheme()}, as {@link io.roster.Registries} finds a
 * {@link RegistryProvider}. The tool opens the registry as usual and hands it over with its URI: an inspector may
 * read through the registry's own client (etcd, ZooKeeper) or open a small client of its own from the URI (Consul,
 * Nacos, Eureka), and closes whatever it opened before it returns. Where it cannot read raw records (a registry
 * of another type, options it does not support) it returns {@link Inspection#generic}, whose note says why.
 *
 * <p>A backend without an inspector still gets the generic check over {@code services()} and
 * {@code getService()}. To get a raw one it adds a class implementing this interface (public, with a public
 * no-argument constructor, as {@link java.util.ServiceLoader} requires), lists it in that file, and builds its
 * result with {@link Inspection#builder}, which applies the checks every layout shares.
 */
public interface Inspector {

    /**
     * Returns the URI scheme whose registries this inspector reads.
     *
     * @return such as {@code etcd}, lower-case
     */
    String scheme();

    /**
     * Names the URI option that bounds this backend's requests, so that a tool can apply its own timeout when the
     * URI sets none.
     *
     * @return such as {@code timeout}; empty when the backend has no such option
     */
    default Optional<String> timeoutOption() {
        return Optional.empty();
    }

    /**
     * Reads the raw records of one service, or of the whole registry, and checks them. Every request is bounded
     * by the registry's timeout, so that an unreachable backend fails rather than hangs.
     *
     * @param registry the registry opened from {@code uri}
     * @param uri the URI it was opened from (a fresh parse: its options are unread)
     * @param service the service to read, or {@code null} for every service
     * @return the records and their problems
     * @throws io.roster.RegistryUnavailableException when the backend cannot be reached
     * @throws io.roster.RegistryAccessDeniedException when the backend refuses the credentials
     * @throws io.roster.RegistryException on any other failure
     */
    Inspection inspect(Registry registry, RegistryUri uri, String service);
}
