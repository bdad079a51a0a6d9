package io.roster.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import io.roster.spi.Durations;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Optional;

/** {@code roster watch <uri> <service>}: the list, then every change, until Ctrl-C. */
@Command(name = "watch", mixinStandardHelpOptions = true, exitCodeOnInvalidInput = Exit.USAGE,
        sortOptions = false, versionProvider = Roster.Version.class,
        description = {"Show the instances of a service, then each change as it happens, with a timestamp: "
                + "instances added (+), changed (~, with what changed) and removed (-). Runs until Ctrl-C.",
                "Changes that follow each other faster than they can be printed may be merged into one."},
        footer = {"", "JSON (one object per line): {\"time\", \"event\": \"list\", \"service\", \"instances\": []}, "
                + "then {\"time\", \"event\": \"added\"|\"changed\"|\"removed\", \"service\", \"id\", "
                + "\"instance\", \"before\" (changed only), \"detail\" (changed only)}",
                "Exit codes: 0 stopped, 2 registry unreachable or refused, 64 bad arguments."})
final class WatchCommand extends RegistryCommand {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

    @Parameters(index = "1", paramLabel = "<service>", description = "The service name.")
    String service;

    WatchCommand(Roster roster) {
        super(roster);
    }

    @Override
    int run(Session session) throws InterruptedException {
        Registry registry = session.open();
        // A plain read first: an unreachable registry fails here with the backend's own reason.
        session.bounded("getService " + service, () -> registry.getService(service));
        session.seed().ifPresent(seed -> seed.churn(service, Duration.ofSeconds(2)));
        try (Watcher watcher = registry.watch(service)) {
            if (!roster.stopOnInterrupt(watcher)) {
                return Exit.OK;
            }
            Optional<List<ServiceInstance>> first = watcher.next(session.timeout());
            if (first.isEmpty()) {
                throw new Failure(Exit.UNREACHABLE, "cannot watch " + service + " on " + session.shownUri()
                        + ": no list within " + Durations.format(session.timeout()));
            }
            List<ServiceInstance> last = first.get();
            printList(session, last);
            while (!session.out().checkError()) { // stdout closed (| head): stop
                List<ServiceInstance> next;
                try {
                    next = watcher.next();
                } catch (WatcherClosedException e) {
                    break; // Ctrl-C
                }
                printChanges(session, Changes.between(last, next));
                last = next;
            }
        }
        return Exit.OK;
    }

    private void printList(Session session, List<ServiceInstance> instances) {
        Instant now = roster.clock().instant();
        if (session.json()) {
            ObjectNode event = event(now, "list");
            Json.instances(event, "instances", instances);
            Json.printLine(session.out(), event);
            return;
        }
        session.out().println(Table.Style.BOLD.apply(time(now), session.color()) + "  "
                + Text.printable(service) + ": " + instances.size() + (instances.size() == 1 ? " instance"
                : " instances"));
        if (!instances.isEmpty()) {
            GetCommand.instanceTable(instances).print(session.out(), session.color());
        }
        session.out().flush();
    }

    private void printChanges(Session session, List<Changes.Change> changes) {
        Instant now = roster.clock().instant();
        for (Changes.Change change : changes) {
            if (session.json()) {
                ObjectNode event = event(now, change.type().word);
                event.put("id", change.id());
                event.set("instance", Json.instance(change.after() != null ? change.after() : change.before()));
                if (change.type() == Changes.Type.CHANGED) {
                    event.set("before", Json.instance(change.before()));
                    event.put("detail", change.detail());
                }
                Json.printLine(session.out(), event);
                continue;
            }
            ServiceInstance shown = change.after() != null ? change.after() : change.before();
            String line = switch (change.type()) {
                case ADDED -> Table.Style.GREEN.apply("+ added  ", session.color()) + "  " + summary(shown);
                case CHANGED -> Table.Style.YELLOW.apply("~ changed", session.color()) + "  "
                        + Text.printable(shown.id()) + "  " + Text.printable(change.detail());
                case REMOVED -> Table.Style.RED.apply("- removed", session.color()) + "  " + summary(shown);
            };
            session.out().println(Table.Style.BOLD.apply(time(now), session.color()) + "  " + line);
        }
        session.out().flush();
    }

    private static String summary(ServiceInstance instance) {
        String endpoints = GetCommand.endpoints(instance).text();
        String metadata = GetCommand.metadata(instance);
        return Text.printable(instance.id() + "  " + instance.version() + "  " + endpoints
                + (metadata.isEmpty() ? "" : "  " + metadata));
    }

    private ObjectNode event(Instant time, String type) {
        ObjectNode event = Json.object();
        event.put("time", time.toString());
        event.put("event", type);
        event.put("service", service);
        return event;
    }

    private String time(Instant instant) {
        return CLOCK.format(instant.atZone(ZoneId.systemDefault()));
    }
}
