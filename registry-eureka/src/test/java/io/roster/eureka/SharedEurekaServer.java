package io.roster.eureka;

import io.roster.testkit.FreePorts;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One open Eureka server for every test class annotated {@code @ExtendWith(SharedEurekaServer.class)}, started
 * before the first of them: a start costs seconds, and every test uses fresh service names. JUnit stops it after
 * the last test of the run (an {@link AutoCloseable} in the root store).
 */
final class SharedEurekaServer implements BeforeAllCallback {
    private static volatile EurekaTestServer server;

    @Override
    public void beforeAll(ExtensionContext context) {
        server = context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL).getOrComputeIfAbsent(
                SharedEurekaServer.class, k -> EurekaTestServer.start(FreePorts.next()), EurekaTestServer.class);
    }

    /**
     * Returns the shared server.
     *
     * @return the running server
     */
    static EurekaTestServer server() {
        return server;
    }
}
