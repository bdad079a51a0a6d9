package io.roster;

import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * Opens a {@link Registry} from a URI, choosing the backend by the URI's scheme among the providers on the class
 * path:
 *
 * <pre>{@code
 * try (Registry registry = Registries.open("etcd://10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s")) {
 *     registry.register(instance);
 *     ...
 * }
 * }</pre>
 *
 * <p>Options come from the query; durations are written {@code 500ms}, {@code 15s}, {@code 2m}. An unknown
 * option or a bad value fails with an {@link InvalidOptionException} that names it. Passwords and tokens given in
 * the URI never appear in messages, logs or {@code toString()}. The embedded {@code mem://<name>} registry is
 * always available.
 */
public final class Registries {
    private static final Logger LOG = LoggerFactory.getLogger(Registries.class);

    private Registries() {
    }

    /**
     * Opens a registry.
     *
     * @param uri such as {@code mem://demo} or {@code etcd://127.0.0.1:2379?ttl=15s}
     * @return an open registry; close it when done
     * @throws InvalidOptionException when the URI is malformed, or an option is unknown or bad
     * @throws RegistryException when no provider serves the scheme (the message lists those that do), or the
     *     backend cannot be reached
     */
    public static Registry open(String uri) {
        Objects.requireNonNull(uri, "uri");
        try {
            return open(new URI(uri.trim()));
        } catch (URISyntaxException e) {
            throw new InvalidOptionException("uri", "not a valid registry URI: '" + RegistryUri.redact(uri)
                    + "' (" + e.getReason() + " at index " + e.getIndex() + ")");
        }
    }

    /**
     * Opens a registry.
     *
     * @param uri such as {@code mem://demo} or {@code etcd://127.0.0.1:2379?ttl=15s}
     * @return an open registry; close it when done
     * @throws InvalidOptionException when an option is unknown or bad
     * @throws RegistryException when no provider serves the scheme (the message lists those that do), or the
     *     backend cannot be reached
     */
    public static Registry open(URI uri) {
        RegistryUri parsed = RegistryUri.parse(Objects.requireNonNull(uri, "uri"));
        RegistryProvider best = null;
        for (RegistryProvider provider : providers()) {
            if (provider.scheme().equalsIgnoreCase(parsed.scheme())
                    && (best == null || provider.priority() > best.priority())) {
                best = provider;
            }
        }
        if (best == null) {
            throw new RegistryException("no registry provider for scheme '" + parsed.scheme()
                    + "'; schemes available on the class path: " + String.join(", ", schemes())
                    + " (add the backend's module, such as io.roster:registry-" + parsed.scheme()
                    + ", to the dependencies)");
        }
        return best.open(parsed);
    }

    /**
     * Lists the schemes the class path provides.
     *
     * @return the schemes, sorted, such as {@code [etcd, mem]}
     */
    public static Set<String> schemes() {
        Set<String> schemes = new TreeSet<>();
        for (RegistryProvider provider : providers()) {
            schemes.add(provider.scheme());
        }
        return schemes;
    }

    private static List<RegistryProvider> providers() {
        List<RegistryProvider> found = new ArrayList<>();
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        load(ServiceLoader.load(RegistryProvider.class, Registries.class.getClassLoader()), found);
        if (context != null && context != Registries.class.getClassLoader()) {
            load(ServiceLoader.load(RegistryProvider.class, context), found);
        }
        return found;
    }

    private static void load(ServiceLoader<RegistryProvider> loader, List<RegistryProvider> into) {
        Iterator<RegistryProvider> it = loader.iterator();
        while (true) {
            RegistryProvider provider;
            try {
                if (!it.hasNext()) {
                    return;
                }
                provider = it.next();
            } catch (ServiceConfigurationError e) {
                // One broken backend jar must not hide the others.
                LOG.warn("Skipping a registry provider that failed to load: {}", e.getMessage());
                continue;
            }
            boolean duplicate = into.stream().anyMatch(p -> p.getClass() == provider.getClass());
            if (!duplicate && provider.isAvailable()) {
                into.add(provider);
            }
        }
    }
}
