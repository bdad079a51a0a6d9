package io.roster.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.Registry;
import io.roster.ServiceInstance;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.stream.Collectors;

/** {@code roster get <uri> <service>}: the instances of one service. */
@Command(name = "get", mixinStandardHelpOptions = true, exitCodeOnInvalidInput = Exit.USAGE,
        sortOptions = false, versionProvider = Roster.Version.class,
        description = "Show the instances of a service: id, version, endpoints, metadata.",
        footer = {"", "JSON: {\"registry\", \"service\", \"instances\": [{\"id\", \"name\", \"version\", "
                + "\"metadata\": {}, \"endpoints\": []}]}",
                "Exit codes: 0 shown (also when there are none), 2 registry unreachable or refused, "
                        + "64 bad arguments."})
final class GetCommand extends RegistryCommand {
    @Parameters(index = "1", paramLabel = "<service>", description = "The service name.")
    String service;

    GetCommand(Roster roster) {
        super(roster);
    }

    @Override
    int run(Session session) {
        Registry registry = session.open();
        List<ServiceInstance> instances = session.bounded("getService " + service,
                () -> registry.getService(service));
        if (session.json()) {
            ObjectNode root = Json.object();
            root.put("registry", session.shownUri());
            root.put("service", service);
            Json.instances(root, "instances", instances);
            Json.print(session.out(), root);
        } else if (instances.isEmpty()) {
            session.out().println("No instances of " + Text.printable(service) + " in " + session.shownUri());
        } else {
            instanceTable(instances).print(session.out(), session.color());
        }
        session.out().flush();
        return Exit.OK;
    }

    /** ID, VERSION, ENDPOINTS, METADATA; an instance without endpoints shows "none" in yellow. */
    static Table instanceTable(List<ServiceInstance> instances) {
        Table table = new Table("ID", "VERSION", "ENDPOINTS", "METADATA");
        for (ServiceInstance instance : instances) {
            table.row(Table.cell(instance.id(), Table.Style.PLAIN), Table.cell(instance.version(), Table.Style.PLAIN),
                    endpoints(instance), Table.cell(metadata(instance), Table.Style.DIM));
        }
        return table;
    }

    static Table.Cell endpoints(ServiceInstance instance) {
        return instance.endpoints().isEmpty() ? Table.cell("none", Table.Style.YELLOW) : Table.cell(
                instance.endpoints().stream().map(Changes::shown).collect(Collectors.joining(" ")),
                Table.Style.PLAIN);
    }

    static String metadata(ServiceInstance instance) {
        return instance.metadata().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(" "));
    }
}
