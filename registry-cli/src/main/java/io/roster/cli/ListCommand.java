package io.roster.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.Registry;
import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.List;

/** {@code roster list <uri>}: every service with its instance count. */
@Command(name = "list", mixinStandardHelpOptions = true, exitCodeOnInvalidInput = Exit.USAGE,
        sortOptions = false, versionProvider = Roster.Version.class,
        description = "List every service that has instances, with its instance count.",
        footer = {"", "JSON: {\"registry\", \"services\": [{\"name\", \"instances\"}]}",
                "Exit codes: 0 listed, 2 registry unreachable or refused, 64 bad arguments."})
final class ListCommand extends RegistryCommand {

    ListCommand(Roster roster) {
        super(roster);
    }

    @Override
    int run(Session session) {
        Registry registry = session.open();
        List<String> names = session.bounded("services", registry::services);
        List<Integer> counts = new ArrayList<>(names.size());
        try (Session.Progress progress = session.progress()) {
            for (String name : names) {
                progress.show("counting instances: " + counts.size() + "/" + names.size() + " services");
                counts.add(registry.getService(name).size());
            }
        }
        if (session.json()) {
            ObjectNode root = Json.object();
            root.put("registry", session.shownUri());
            ArrayNode services = root.putArray("services");
            for (int i = 0; i < names.size(); i++) {
                services.addObject().put("name", names.get(i)).put("instances", counts.get(i));
            }
            Json.print(session.out(), root);
        } else if (names.isEmpty()) {
            session.out().println("No services in " + session.shownUri());
        } else {
            Table table = new Table("SERVICE", "INSTANCES");
            for (int i = 0; i < names.size(); i++) {
                table.row(Table.cell(names.get(i), Table.Style.PLAIN), Table.cell(String.valueOf(counts.get(i)),
                        counts.get(i) == 0 ? Table.Style.YELLOW : Table.Style.PLAIN));
            }
            table.print(session.out(), session.color());
        }
        session.out().flush();
        return Exit.OK;
    }
}
