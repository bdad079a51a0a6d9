package io.roster;

import io.roster.spi.Failures;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
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
     * @throws InvalidOptionException when the URI is null or malformed, a port is out of range, or an option is
     *     unknown or bad
     * @throws RegistryException when no provider serves the scheme (the message lists those that do), or the
     *     backend cannot be reached
     */
    public static Registry open(String uri) {
        if (uri == null) {
            throw new InvalidOptionException("uri", "registry URI must not be null");
        }
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
     * @throws InvalidOptionException when the URI is null, a port is out of range, or an option is unknown or bad
     * @throws RegistryException when no provider serves the scheme (the message lists those that do), or the
     *     backend cannot be reached ({@link RegistryUnavailableException}); whatever a backend's client throws
     *     arrives wrapped in one of these
     */
    public static Registry open(URI uri) {
        RegistryUri parsed = RegistryUri.parse(uri);
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
        return open(best, parsed);
    }

    /** Opens through a provider, letting no JDK or client-library exception out unwrapped. */
    private static Registry open(RegistryProvider provider, RegistryUri uri) {
        Registry registry;
        try {
            registry = provider.open(uri);
        } catch (RegistryException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            // What a client library throws for a value it cannot use: a bad option the provider did not check.
            throw new InvalidOptionException("uri", uri.scheme() + " registry " + uri + " has a value its client "
                    + "refused: " + Failures.describe(e), e);
        } catch (Exception e) {
            throw Failures.wrap("open", uri.toString(), e);
        }
        if (registry == null) {
            throw new RegistryException("open failed: the " + uri.scheme() + " provider "
                    + provider.getClass().getName() + " returned no registry for " + uri);
        }
        return registry;
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
            if (!duplicate && isAvailable(provider)) {
                into.add(provider);
            }
        }
    }

    private static boolean isAvailable(RegistryProvider provider) {
        try {
            return provider.scheme() != null && provider.isAvailable();
        } catch (RuntimeException | LinkageError e) {
            // A provider whose client library is missing or broken must not hide the others.
            LOG.warn("Skipping registry provider {}: {}", provider.getClass().getName(), Failures.describe(e));
            return false;
        }
    }
}
