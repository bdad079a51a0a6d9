package io.roster.examples;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

class GreeterDemoTest {

    @Test
    void callsRoundRobinAndSeesTheStoppedGreeterGo() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        new GreeterDemo("mem://demo-test-" + UUID.randomUUID(), new PrintStream(bytes, true, StandardCharsets.UTF_8))
                .run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        // Round-robin starts at a random greeter, then alternates.
        String first = out.contains("call 1 -> greeter-1") ? "greeter-1" : "greeter-2";
        String second = first.equals("greeter-1") ? "greeter-2" : "greeter-1";
        assertThat(out).contains("call 1 -> " + first, "hello from " + first)
                .contains("call 2 -> " + second, "hello from " + second)
                .contains("call 3 -> " + first, "call 4 -> " + second)
                .contains("stopping greeter-2", "watcher: greeter has 1 instance(s): [greeter-1]")
                .contains("call 5 -> greeter-1", "call 6 -> greeter-1")
                .contains("all closed, bye");
    }
}
