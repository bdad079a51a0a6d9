package io.roster.examples;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

class GrpcGreeterDemoTest {

    @Test
    void callsBothGreetersAndLosesNoCallWhileOneLeaves() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        new GrpcGreeterDemo("mem://grpc-demo-test-" + UUID.randomUUID(),
                new PrintStream(bytes, true, StandardCharsets.UTF_8)).run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        assertThat(out).contains("greeter-1 (grpc://127.0.0.1:", "greeter-2 (grpc://127.0.0.1:")
                .contains("channel to greeter via discovery:///greeter")
                .contains("hello from greeter-1", "hello from greeter-2")
                .containsPattern("\\d+ calls during the stop, 0 failed")
                .contains("call 5 -> hello from greeter-1", "call 6 -> hello from greeter-1")
                .contains("all closed, bye");
        // Round-robin: calls 1-4 alternate.
        assertThat(out.split("call [1-4] -> hello from greeter-1", -1)).hasSize(3);
    }
}
