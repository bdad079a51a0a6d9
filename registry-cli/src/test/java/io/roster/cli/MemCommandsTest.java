package io.roster.cli;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Every command through the entry point on the embedded registry, and what does not depend on a backend. */
class MemCommandsTest {
    private static final String ESC = "\u001b[";

    @Test
    void listShowsTheSeededServicesWithTheirCounts() {
        Cli.Result result = Cli.run("list", "mem://list-demo", "--seed");
        assertThat(result.exit()).as(result.err()).isZero();
        assertThat(result.out()).isEqualTo("SERVICE  INSTANCES\nbilling  1\ngreeter  2\nreports  1\n");
        assertThat(result.err()).isEmpty();

        Cli.Result json = Cli.run("list", "mem://list-demo", "--seed", "--json");
        assertThat(json.out()).isEqualToIgnoringWhitespace("{\"registry\":\"mem://list-demo\",\"services\":["
                + "{\"name\":\"billing\",\"instances\":1},{\"name\":\"greeter\",\"instances\":2},"
                + "{\"name\":\"reports\",\"instances\":1}]}");

        Cli.Result empty = Cli.run("list", "mem://nothing-here");
        assertThat(empty.exit()).isZero();
        assertThat(empty.out()).isEqualTo("No services in mem://nothing-here\n");
    }

    @Test
    void getShowsEachInstance() {
        Cli.Result result = Cli.run("get", "mem://get-demo", "greeter", "--seed");
        assertThat(result.exit()).as(result.err()).isZero();
        assertThat(result.out()).isEqualTo(
                "ID         VERSION  ENDPOINTS                                  METADATA\n"
                + "greeter-1  v1.2.0   grpc://10.0.0.5:9000 http://10.0.0.5:8000  zone=eu-west-1a\n"
                + "greeter-2  v1.2.0   grpc://10.0.0.6:9000 http://10.0.0.6:8000  zone=eu-west-1b\n");

        Cli.Result json = Cli.run("get", "mem://get-demo", "billing", "--seed", "--json");
        assertThat(json.out()).isEqualToIgnoringWhitespace("{\"registry\":\"mem://get-demo\",\"service\":\"billing\","
                + "\"instances\":[{\"id\":\"billing-1\",\"name\":\"billing\",\"version\":\"v3.0.1\",\"metadata\":{},"
                + "\"endpoints\":[\"http://10.0.0.7:8080\"]}]}");

        Cli.Result none = Cli.run("get", "mem://get-demo", "nobody");
        assertThat(none.exit()).isZero();
        assertThat(none.out()).isEqualTo("No instances of nobody in mem://get-demo\n");
    }

    @Test
    void checkFindsTheInstanceWithoutEndpointAndExitsOne() {
        Cli.Result result = Cli.run("check", "mem://check-demo", "--seed");
        assertThat(result.exit()).as(result.err()).isEqualTo(Exit.PROBLEMS);
        assertThat(result.out()).containsPattern("mem://check-demo/reports/reports-1 +reports-1 +v0.9.0 +none "
                        + "+no-endpoint")
                .containsPattern("no-endpoint +mem://check-demo/reports/reports-1 +instance reports-1 has no usable")
                .contains("4 records, 1 problem");

        Cli.Result one = Cli.run("check", "mem://check-demo", "greeter", "--seed");
        assertThat(one.exit()).isEqualTo(Exit.OK);
        assertThat(one.out()).contains("2 records, no problems");

        Cli.Result empty = Cli.run("check", "mem://check-empty", "--json");
        assertThat(empty.exit()).isEqualTo(Exit.OK);
        assertThat(empty.out()).isEqualToIgnoringWhitespace("{\"registry\":\"mem://check-empty\",\"service\":null,"
                + "\"layout\":\"instances in store check-empty (this JVM)\",\"raw\":true,\"note\":null,"
                + "\"clean\":true,\"records\":[],\"problems\":[]}");
    }

    @Test
    void watchPrintsEachChangeWithATimestampUntilStopped() throws Exception {
        try (Registry registry = Registries.open("mem://watch-demo")) {
            Cli watch = Cli.start("watch", "mem://watch-demo", "greeter");
            await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("greeter: 0 instances"));

            ServiceInstance v1 = ServiceInstance.builder().name("greeter").id("g1").version("v1")
                    .metadata("zone", "a").endpoint("grpc://10.0.0.1:9000").build();
            registry.register(v1);
            await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("+ added"));
            registry.register(v1.toBuilder().version("v2").metadata("zone", "b").endpoint("http://10.0.0.1:80")
                    .build());
            await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("~ changed"));
            registry.deregister(v1);
            await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("- removed"));

            assertThat(watch.stop(Duration.ofSeconds(10))).isZero();
            String time = "\\d\\d:\\d\\d:\\d\\d\\.\\d\\d\\d";
            assertThat(watch.out()).matches("(?s)" + time + "  greeter: 0 instances\n"
                    + time + "  \\+ added    g1  v1  grpc://10.0.0.1:9000  zone=a\n"
                    + time + "  ~ changed  g1  version v1 -> v2; endpoints \\+http://10.0.0.1:80; "
                    + "metadata zone a -> b\n"
                    + time + "  - removed  g1  v2  grpc://10.0.0.1:9000 http://10.0.0.1:80  zone=b\n");
            assertThat(watch.err()).isEmpty();
        }
    }

    @Test
    void aBackendWithoutAnInspectorGetsTheGenericCheckAndSaysSo() {
        try (Registry registry = Registries.open("mem://generic-demo")) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").endpoint("grpc://10.0.0.1:9000")
                    .build());
            registry.register(ServiceInstance.builder().name("greeter").id("2").build());

            Cli.Result result = Cli.run("check", "plain://generic-demo");

            assertThat(result.exit()).as(result.err()).isEqualTo(Exit.PROBLEMS);
            assertThat(result.out()).startsWith("plain://generic-demo: instances as getService() returns them "
                    + "(generic check)\nnote: no raw reader: no inspector for this scheme in this build; records "
                    + "the backend skips as malformed are not seen\n")
                    .containsPattern("greeter/1 +1 +grpc://10.0.0.1:9000 +ok")
                    .containsPattern("no-endpoint +greeter/2 ");
            Cli.Result json = Cli.run("check", "plain://generic-demo", "greeter", "--json");
            assertThat(json.out()).contains("\"raw\" : false").contains("\"note\" : \"no raw reader");
        }
    }

    @Test
    void eachCommandHasItsHelp() {
        for (String command : new String[] {"list", "get", "watch", "check"}) {
            Cli.Result help = Cli.run(command, "--help");
            assertThat(help.exit()).isZero();
            assertThat(help.out()).startsWith("Usage: roster " + command).contains("--timeout=<duration>")
                    .contains("--json").contains("Exit codes:");
        }
        assertThat(Cli.run("--help").out()).contains("list").contains("get").contains("watch").contains("check");
        assertThat(Cli.run("help", "check").out()).startsWith("Usage: roster check").contains("no-expiry");
        assertThat(Cli.run().out()).startsWith("Usage: roster");
    }

    @Test
    void badArgumentsExitWith64AndOneHint() {
        Cli.Result unknownOption = Cli.run("list", "mem://x", "--jsn");
        assertThat(unknownOption.exit()).isEqualTo(Exit.USAGE);
        assertThat(unknownOption.err()).contains("Unknown option: '--jsn'").contains("--json")
                .contains("Run 'roster list --help' for usage.");
        assertThat(unknownOption.out()).isEmpty();

        assertThat(Cli.run("lst", "mem://x").err()).contains("list");
        assertThat(Cli.run("get", "mem://x").exit()).isEqualTo(Exit.USAGE);
        assertThat(Cli.run("list", "mem://x", "--timeout", "soon").err()).contains("expected a duration");

        Cli.Result scheme = Cli.run("list", "nope://x");
        assertThat(scheme.exit()).isEqualTo(Exit.USAGE);
        assertThat(scheme.err()).startsWith("roster: no backend for nope:// in this build; schemes: consul, etcd, ")
                .contains(", eureka, ").contains(", mem, ").contains(", nacos, ").endsWith(", zookeeper\n");

        Cli.Result seed = Cli.run("list", "etcd://127.0.0.1:2379", "--seed");
        assertThat(seed.exit()).isEqualTo(Exit.USAGE);
        assertThat(seed.err()).contains("--seed works with mem:// registries only");
    }

    @Test
    void secretsInTheUriAreNeverPrinted() {
        Cli.Result option = Cli.run("list", "mem://x?token=s3cret");
        assertThat(option.exit()).isEqualTo(Exit.USAGE);
        assertThat(option.err()).contains("token").doesNotContain("s3cret");

        Cli.Result userInfo = Cli.run("list", "mem://user:s3cret@x?ttl=1s");
        assertThat(userInfo.out() + userInfo.err()).doesNotContain("s3cret");

        Cli.Result parameter = Cli.run("list", "mem://x", "etcd://root:s3cret@h:1");
        assertThat(parameter.exit()).isEqualTo(Exit.USAGE);
        assertThat(parameter.err()).doesNotContain("s3cret");
    }

    @Test
    void coloursOnlyOnATerminalWithoutNoColor() {
        Terminal terminal = Terminal.of(true, Map.of());
        Cli.Result coloured = Cli.run(terminal, "check", "mem://colour-demo", "--seed");
        assertThat(coloured.out()).contains(ESC + "1mLOCATION").contains(ESC + "31mno-endpoint");

        assertThat(Cli.run(terminal, "check", "mem://colour-demo", "--seed", "--no-color").out())
                .doesNotContain(ESC);
        assertThat(Cli.run(Terminal.of(true, Map.of("NO_COLOR", "1")), "check", "mem://colour-demo", "--seed")
                .out()).doesNotContain(ESC);
        assertThat(Cli.run(Terminal.of(false, Map.of()), "check", "mem://colour-demo", "--seed").out())
                .doesNotContain(ESC);
        assertThat(Terminal.of(true, Map.of("NO_COLOR", "")).color()).isTrue(); // no-color.org: set and not empty
    }

    @Test
    void progressGoesToStderrOnlyOnATerminal() {
        Cli.Result terminal = Cli.run(Terminal.of(true, Map.of("NO_COLOR", "1")), "list", "mem://progress-demo",
                "--seed");
        assertThat(terminal.err()).contains("counting instances: 0/3 services").endsWith("\r" + ESC + "K");
        assertThat(terminal.out()).doesNotContain("counting");

        assertThat(Cli.run("list", "mem://progress-demo", "--seed").err()).isEmpty();
        assertThat(Cli.run(Terminal.of(true, Map.of()), "list", "mem://progress-demo", "--seed", "--json").err())
                .isEmpty();
    }
}
