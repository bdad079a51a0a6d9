package io.roster.grpc;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** A one-method test service without generated code: {@code test.Greeter/Hello} answers the server's id. */
final class Greeter {
    static final MethodDescriptor<String, String> HELLO = MethodDescriptor.<String, String>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName("test.Greeter/Hello")
            .setRequestMarshaller(new Utf8())
            .setResponseMarshaller(new Utf8())
            .build();

    private Greeter() {
    }

    /**
     * The service of one server.
     *
     * @param id what it answers
     * @param calls counts the calls it served
     * @param delay how long each call takes (a slow instance); zero for none
     */
    static ServerServiceDefinition service(String id, AtomicLong calls, Duration delay) {
        return ServerServiceDefinition.builder("test.Greeter")
                .addMethod(HELLO, ServerCalls.asyncUnaryCall((request, reply) -> {
                    calls.incrementAndGet();
                    if (!delay.isZero()) {
                        try {
                            Thread.sleep(delay.toMillis()); // the call's own duration: a slow server
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    reply.onNext(id);
                    reply.onCompleted();
                }))
                .build();
    }

    /** Calls once, with a deadline; returns the id of the server that answered. */
    static String hello(Channel channel) {
        return ClientCalls.blockingUnaryCall(channel, HELLO,
                CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "hi");
    }

    private static final class Utf8 implements MethodDescriptor.Marshaller<String> {
        @Override
        public InputStream stream(String value) {
            return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public String parse(InputStream stream) {
            try {
                return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
