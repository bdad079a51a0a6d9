package io.roster.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.stream.Collectors;

/** {@code roster check <uri> [service]}: the raw records under the backend's layout, and what is wrong. */
@Command(name = "check", mixinStandardHelpOptions = true, exitCodeOnInvalidInput = Exit.USAGE,
        sortOptions = false, versionProvider = Roster.Version.class,
        description = {"Read the registry's records as stored (etcd keys, ZooKeeper nodes, Consul health entries, "
                + "Nacos instances, Eureka instances, ...) and name every problem with its location: an empty or "
                + "malformed service name in a key or path, a record that does not decode, a record filed under "
                + "another name, no endpoint or an endpoint without scheme/host/port, duplicate ids, a record on "
                + "no lease, a critical Consul check, a Nacos instance with endpoints missing, ...",
                "A backend without a raw reader is checked through the discovery API instead (duplicate ids, no "
                        + "endpoint), which the output says."},
        footer = {"", "Problem kinds: empty-service-name, malformed-service-name, malformed-location, "
                + "not-decodable, name-mismatch, id-mismatch, no-endpoint, bad-endpoint, duplicate-id, no-expiry, "
                + "check-critical, unhealthy, partial-instance, unreadable, zero-weight, version-mismatch.",
                "JSON: {\"registry\", \"service\", \"layout\", \"raw\", \"note\", \"clean\", \"records\": "
                        + "[{\"location\", \"service\", \"text\", \"instance\", \"problems\": [kind]}], "
                        + "\"problems\": [{\"location\", \"kind\", \"detail\"}]}",
                "Exit codes: 0 clean, 1 problems found, 2 registry unreachable or refused within the timeout, "
                        + "64 bad arguments."})
final class CheckCommand extends RegistryCommand {
    @Parameters(index = "1", arity = "0..1", paramLabel = "<service>",
            description = "Check this service only (default: the whole registry).")
    String service;

    CheckCommand(Roster roster) {
        super(roster);
    }

    @Override
    int run(Session session) {
        Registry registry = session.open();
        Inspection inspection;
        try (Session.Progress progress = session.progress()) {
            if (session.inspector().isPresent()) {
                Inspector inspector = session.inspector().get();
                progress.show("reading the raw records of " + session.shownUri() + " ...");
                inspection = inspector.inspect(registry, session.parsedUri(), service);
            } else {
                // Bound the first contact; the rest is as long as the registry is large.
                session.bounded("services", () -> service == null ? registry.services()
                        : registry.getService(service));
                inspection = Inspection.generic(registry, service, "no inspector for this scheme in this build",
                        (done, total) -> progress.show("reading services: " + done + "/" + total));
            }
        }
        if (session.json()) {
            ObjectNode root = Json.object();
            root.put("registry", session.shownUri());
            root.put("service", service);
            Json.inspection(root, inspection);
            Json.print(session.out(), root);
        } else {
            print(session, inspection);
        }
        return inspection.isClean() ? Exit.OK : Exit.PROBLEMS;
    }

    private void print(Session session, Inspection inspection) {
        boolean color = session.color();
        var out = session.out();
        out.println(Table.Style.BOLD.apply(session.shownUri(), color) + ": " + Text.printable(inspection.layout())
                + (inspection.raw() ? " (raw records)" : " (generic check)"));
        inspection.note().ifPresent(note -> out.println(Table.Style.YELLOW.apply("note: ", color)
                + Text.printable(note)));
        if (!inspection.records().isEmpty()) {
            Table records = new Table("LOCATION", "ID", "VERSION", "ENDPOINTS", "STATUS");
            for (Inspection.Record record : inspection.records()) {
                List<Inspection.Problem> problems = inspection.problemsAt(record.location());
                String status = problems.isEmpty() ? "ok" : problems.stream().map(p -> p.kind().code()).distinct()
                        .collect(Collectors.joining(","));
                ServiceInstance instance = record.instance().orElse(null);
                records.row(Table.cell(record.location(), Table.Style.PLAIN),
                        Table.cell(instance == null ? "-" : instance.id(), Table.Style.PLAIN),
                        Table.cell(instance == null ? "-" : instance.version(), Table.Style.PLAIN),
                        instance == null ? Table.cell("-", Table.Style.PLAIN) : GetCommand.endpoints(instance),
                        Table.cell(status, problems.isEmpty() ? Table.Style.GREEN : Table.Style.RED));
            }
            out.println();
            records.print(out, color);
        }
        if (!inspection.problems().isEmpty()) {
            Table problems = new Table("PROBLEM", "LOCATION", "DETAIL");
            for (Inspection.Problem problem : inspection.problems()) {
                problems.row(Table.cell(problem.kind().code(), Table.Style.RED),
                        Table.cell(problem.location(), Table.Style.PLAIN),
                        Table.cell(Text.masked(problem.detail()), Table.Style.PLAIN));
            }
            out.println();
            problems.print(out, color);
        }
        out.println();
        int n = inspection.problems().size();
        String summary = inspection.records().size() + (inspection.records().size() == 1 ? " record, " : " records, ")
                + (n == 0 ? "no problems" : n == 1 ? "1 problem" : n + " problems");
        out.println(n == 0 ? Table.Style.GREEN.apply(summary, color) : Table.Style.RED.apply(summary, color));
        out.flush();
    }
}
