package io.roster.polaris;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.testkit.RegistryFixture;

import java.time.Duration;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** The contract suite's view of Polaris: registries opened through {@link Registries} as users do. */
final class PolarisFixture implements RegistryFixture {
    private final Supplier<String> uri;
    private final Duration deathBound;
    private final Predicate<Thread> serverThread;

    /**
     * @param uri the {@code polaris://} URI each registry is opened with, read when it is opened
     * @param deathBound unhealthy after missed heartbeats, plus the SDK's cache refresh, with room for a loaded CI
     * @param serverThread the server's own threads, when it runs in the test JVM
     */
    PolarisFixture(Supplier<String> uri, Duration deathBound, Predicate<Thread> serverThread) {
        this.uri = uri;
        this.deathBound = deathBound;
        this.serverThread = serverThread;
    }

    @Override
    public Registry open() {
        return Registries.open(uri.get());
    }

    @Override
    public void kill(Registry registry) {
        ((PolarisRegistry) registry).kill();
    }

    @Override
    public Duration deathBound() {
        return deathBound;
    }

    @Override
    public boolean isServerThread(Thread thread) {
        return serverThread.test(thread);
    }
}
