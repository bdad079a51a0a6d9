package io.roster.cli;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * roster-bom has no parent (importing it must not import roster-parent's third-party versions), so nothing keeps
 * it in step with the reactor but this test: it must list every published module, at the reactor's version.
 */
class RosterBomTest {
    /** Modules that are not published: demos and benchmarks, and the BOM itself. */
    private static final Set<String> UNPUBLISHED = Set.of("examples", "benchmarks", "roster-bom");

    @Test
    void theBomListsEveryPublishedModuleAtTheReactorVersion() throws Exception {
        Path root = Path.of("").toAbsolutePath().getParent();
        Document parent = read(root.resolve("pom.xml"));
        Document bom = read(root.resolve("roster-bom/pom.xml"));

        List<String> modules = new ArrayList<>();
        for (String module : texts(parent.getDocumentElement(), "modules", "module")) {
            if (!UNPUBLISHED.contains(module)) {
                modules.add(module);
            }
        }
        Element managed = child(child(bom.getDocumentElement(), "dependencyManagement"), "dependencies");
        List<String> listed = new ArrayList<>();
        for (Element dependency : children(managed, "dependency")) {
            assertThat(text(dependency, "groupId")).isEqualTo("io.roster");
            assertThat(text(dependency, "version")).isEqualTo("${project.version}");
            listed.add(text(dependency, "artifactId"));
        }

        assertThat(listed).containsExactlyInAnyOrderElementsOf(modules);
        assertThat(text(bom.getDocumentElement(), "version")).isEqualTo(text(parent.getDocumentElement(), "version"));
        assertThat(child(bom.getDocumentElement(), "parent")).as("roster-bom must have no parent").isNull();
    }

    private static Document read(Path file) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file.toFile());
    }

    private static List<String> texts(Element element, String list, String item) {
        List<String> texts = new ArrayList<>();
        children(child(element, list), item).forEach(e -> texts.add(e.getTextContent().trim()));
        return texts;
    }

    private static String text(Element element, String name) {
        return child(element, name).getTextContent().trim();
    }

    private static Element child(Element element, String name) {
        List<Element> found = children(element, name);
        return found.isEmpty() ? null : found.get(0);
    }

    private static List<Element> children(Element element, String name) {
        List<Element> found = new ArrayList<>();
        NodeList nodes = element.getChildNodes();
        for (int i = 0; i < nodes.getLength(); i++) {
            Node node = nodes.item(i);
            if (node instanceof Element && ((Element) node).getTagName().equals(name)) {
                found.add((Element) node);
            }
        }
        return found;
    }
}
