package io.roster.cli;

import io.roster.spi.Inspector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Iterator;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/** Finds the {@link Inspector} of a URI scheme on the class path, as {@code Registries} finds providers. */
final class Inspectors {
    private static final Logger LOG = LoggerFactory.getLogger(Inspectors.class);

    private Inspectors() {
    }

    static Optional<Inspector> find(String scheme) {
        Iterator<Inspector> it = ServiceLoader.load(Inspector.class, Inspectors.class.getClassLoader()).iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    return Optional.empty();
                }
                Inspector inspector = it.next();
                if (scheme.equalsIgnoreCase(inspector.scheme())) {
                    return Optional.of(inspector);
                }
            } catch (ServiceConfigurationError | LinkageError e) {
                // One broken backend jar must not hide the others; its registries get the generic check.
                LOG.warn("Skipping an inspector that failed to load: {}", e.getMessage());
            }
        }
    }
}
