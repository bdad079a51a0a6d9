package io.roster.cli;

import io.roster.spi.RegistryUri;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** A command on one registry: the common options, the URI, and the mapping of failures to exit codes. */
abstract class RegistryCommand implements Callable<Integer> {
    @Mixin
    CommonOptions options;

    @Parameters(index = "0", paramLabel = "<uri>", description = "The registry URI, as Registries.open takes it, "
            + "such as etcd://10.0.0.1:2379 or mem://demo.")
    String uri;

    final Roster roster;

    RegistryCommand(Roster roster) {
        this.roster = roster;
    }

    @Override
    public final Integer call() {
        try (Session session = new Session(roster.out(), roster.err(), roster.terminal(), options, uri)) {
            return run(session);
        } catch (Exception e) {
            if (roster.isStopped()) {
                return Exit.INTERRUPTED; // Ctrl-C: what failed because of it needs no message
            }
            return Session.report(e, RegistryUri.redact(uri), roster.err());
        }
    }

    /**
     * Runs the command.
     *
     * @return the exit code
     */
    abstract int run(Session session) throws Exception;
}
