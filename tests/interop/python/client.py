#!/usr/bin/env python3
"""Interop client for AsrService's gRPC server, built on grpcio (gRPC's C core): a gRPC stack nobody on this project
wrote, so passing calls through it shows the server speaks the protocol, not just our own client's reading of it.

Messages are built at run time from the .proto files (grpc_tools.protoc writes a descriptor set to a temporary
folder), so new services need no generated code; this also sidesteps the clash between a generated
grpc/health/v1 package and the grpc module itself.

Usage: client.py HOST:PORT [--proto-path DIR]... COMMAND [ARGS]
  health [SERVICE]            grpc.health.v1.Health/Check ("" = whole server)
  echo TEXT                   asrtest.v1.TestService/Echo (unary)
  accumulate N                asrtest.v1.TestService/Accumulate (duplex): sends 1..N while reading running sums
  fail CODE DETAIL            asrtest.v1.TestService/Fail: the server ends the call with that status
  deadline KEY MS             asrtest.v1.TestService/Slow with a deadline of MS: expects DEADLINE_EXCEEDED
  suite                       health, echo, accumulate 200, fail, deadline: what the xunit interop test runs
  asr-stream WAV [--model M] [--chunk-ms MS] [--interim] [--realtime]
                              asr.v1.Asr/StreamingRecognize: config first, then the WAV's samples in chunks
  asr-recognize FILE [--model M]   asr.v1.Asr/Recognize with the whole file as ENCODED_FILE
  asr-models                  asr.v1.Asr/ListModels
Every result is printed as one JSON object per line on stdout.

Needs Debian's python3-grpcio and python3-grpc-tools (run with /usr/bin/python3 when a pyenv python shadows it).
"""

import argparse
import json
import os
import sys
import tempfile
import time
import wave

import grpc
from google.protobuf import descriptor_pb2, json_format, message_factory
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_FILES = ["grpc/health/v1/health.proto", "asrtest/v1/test_service.proto", "asr/v1/asr.proto"]
DEFAULT_PROTO_PATHS = [
    os.path.normpath(os.path.join(HERE, "../../../protos")),
    os.path.normpath(os.path.join(HERE, "../../AsrService.Grpc.Tests/Protos")),
]


def load_messages(proto_paths):
    """Compiles the protos found in proto_paths and returns {full message name: class}."""
    files = [f for f in PROTO_FILES if any(os.path.exists(os.path.join(d, f)) for d in proto_paths)]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        # protoc's own include folder holds google/protobuf/*.proto (duration.proto).
        well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = ["protoc", "--include_imports", "--descriptor_set_out=" + out]
        args += ["-I" + d for d in proto_paths]
        if os.path.isdir(well_known):
            args.append("-I" + well_known)
        if protoc.main(args + files) != 0:
            raise RuntimeError("protoc failed on " + ", ".join(files))
        with open(out, "rb") as f:
            file_set = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    return message_factory.GetMessages(list(file_set.file))


def emit(result):
    print(json.dumps(result, ensure_ascii=False), flush=True)


def to_dict(message):
    # Print fields left at their defaults too, as the Node client does, so both scripts' output reads the same. The
    # option was renamed in protobuf 5.26.
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    except TypeError:
        return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)


class Client:
    def __init__(self, target, messages):
        self.channel = grpc.insecure_channel(target)
        self.m = messages

    def unary(self, method, request_type, response_type):
        return self.channel.unary_unary(
            method,
            request_serializer=self.m[request_type].SerializeToString,
            response_deserializer=self.m[response_type].FromString,
        )

    def duplex(self, method, request_type, response_type):
        return self.channel.stream_stream(
            method,
            request_serializer=self.m[request_type].SerializeToString,
            response_deserializer=self.m[response_type].FromString,
        )

    def health(self, service=""):
        check = self.unary("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse")
        request = self.m["grpc.health.v1.HealthCheckRequest"](service=service)
        try:
            response = check(request, timeout=10)
            status = self.m["grpc.health.v1.HealthCheckResponse"].DESCRIPTOR.enum_types_by_name["ServingStatus"].values_by_number[response.status].name
            emit({"command": "health", "service": service, "status": status})
        except grpc.RpcError as error:
            emit({"command": "health", "service": service, "error": {"code": error.code().value[0], "details": error.details()}})

    def echo(self, text):
        call = self.unary("/asrtest.v1.TestService/Echo", "asrtest.v1.EchoRequest", "asrtest.v1.EchoResponse")
        response = call(self.m["asrtest.v1.EchoRequest"](text=text, response_payload_size=1000), timeout=10)
        emit({"command": "echo", "text": response.text, "payloadBytes": len(response.payload)})

    def accumulate(self, count):
        call = self.duplex("/asrtest.v1.TestService/Accumulate", "asrtest.v1.AccumulateRequest", "asrtest.v1.AccumulateResponse")
        request_type = self.m["asrtest.v1.AccumulateRequest"]
        responses = 0
        last_sum = 0
        in_order = True
        try:
            for response in call((request_type(value=i) for i in range(1, count + 1)), timeout=20):
                responses += 1
                in_order = in_order and response.count == responses
                last_sum = response.sum
            emit({"command": "accumulate", "sent": count, "responses": responses, "sum": str(last_sum), "inOrder": in_order, "code": 0})
        except grpc.RpcError as error:
            emit({"command": "accumulate", "error": {"code": error.code().value[0], "details": error.details()}})

    def fail(self, code, detail):
        call = self.unary("/asrtest.v1.TestService/Fail", "asrtest.v1.FailRequest", "asrtest.v1.EchoResponse")
        try:
            call(self.m["asrtest.v1.FailRequest"](code=int(code), detail=detail), timeout=10)
            emit({"command": "fail", "error": None})
        except grpc.RpcError as error:
            emit({"command": "fail", "code": error.code().value[0], "details": error.details()})

    def deadline(self, key, ms):
        call = self.unary("/asrtest.v1.TestService/Slow", "asrtest.v1.SlowRequest", "asrtest.v1.SlowResponse")
        try:
            call(self.m["asrtest.v1.SlowRequest"](key=key), timeout=ms / 1000)
            emit({"command": "deadline", "error": None})
        except grpc.RpcError as error:
            emit({"command": "deadline", "code": error.code().value[0], "details": error.details()})

    def asr_stream(self, path, model, chunk_ms, interim, realtime):
        with wave.open(path, "rb") as wav:
            if wav.getsampwidth() != 2:
                raise SystemExit("asr-stream needs 16-bit PCM WAV; convert with ffmpeg -ar 16000 -ac 1 -c:a pcm_s16le")
            rate, channels, data = wav.getframerate(), wav.getnchannels(), wav.readframes(wav.getnframes())
        request_type = self.m["asr.v1.StreamingRecognizeRequest"]
        chunk_bytes = max(2 * channels, int(rate * channels * 2 * chunk_ms / 1000))

        def requests():
            yield request_type(streaming_config={
                "config": {
                    "encoding": "LINEAR16",
                    "sample_rate_hertz": rate,
                    "audio_channel_count": channels,
                    "model": model,
                    "request_id": "python-%d" % os.getpid(),
                },
                "interim_results": interim,
                "enable_voice_activity_events": True,
            })
            for offset in range(0, len(data), chunk_bytes):
                yield request_type(audio_content=data[offset:offset + chunk_bytes])
                if realtime:
                    time.sleep(chunk_ms / 1000)

        call = self.duplex("/asr.v1.Asr/StreamingRecognize", "asr.v1.StreamingRecognizeRequest", "asr.v1.StreamingRecognizeResponse")
        finals = 0
        try:
            for response in call(requests()):
                finals += sum(1 for r in response.results if r.is_final)
                emit({"command": "asr-stream", "response": to_dict(response)})
            emit({"command": "asr-stream", "done": True, "finals": finals, "code": 0})
        except grpc.RpcError as error:
            emit({"command": "asr-stream", "error": {"code": error.code().value[0], "details": error.details()}})

    def asr_recognize(self, path, model):
        call = self.unary("/asr.v1.Asr/Recognize", "asr.v1.RecognizeRequest", "asr.v1.RecognizeResponse")
        with open(path, "rb") as f:
            request = self.m["asr.v1.RecognizeRequest"](
                config={"encoding": "ENCODED_FILE", "model": model, "request_id": "python-%d" % os.getpid()},
                audio_content=f.read())
        try:
            emit({"command": "asr-recognize", "response": to_dict(call(request, timeout=600))})
        except grpc.RpcError as error:
            emit({"command": "asr-recognize", "error": {"code": error.code().value[0], "details": error.details()}})

    def asr_models(self):
        call = self.unary("/asr.v1.Asr/ListModels", "asr.v1.ListModelsRequest", "asr.v1.ListModelsResponse")
        try:
            emit({"command": "asr-models", "response": to_dict(call(self.m["asr.v1.ListModelsRequest"](), timeout=10))})
        except grpc.RpcError as error:
            emit({"command": "asr-models", "error": {"code": error.code().value[0], "details": error.details()}})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="HOST:PORT of the server")
    parser.add_argument("command")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--proto-path", action="append", default=[])
    parser.add_argument("--model", default="")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--interim", action="store_true")
    parser.add_argument("--realtime", action="store_true")
    options = parser.parse_args()

    client = Client(options.target, load_messages(options.proto_path or DEFAULT_PROTO_PATHS))
    args = options.args
    if options.command == "health":
        client.health(args[0] if args else "")
    elif options.command == "echo":
        client.echo(args[0] if args else "")
    elif options.command == "accumulate":
        client.accumulate(int(args[0]) if args else 100)
    elif options.command == "fail":
        client.fail(args[0], args[1] if len(args) > 1 else "")
    elif options.command == "deadline":
        client.deadline(args[0] if args else "interop-deadline", int(args[1]) if len(args) > 1 else 300)
    elif options.command == "suite":
        client.health("")
        client.health("no.such.Service")
        client.echo("hello from grpcio")
        client.accumulate(200)
        client.fail(3, "bad config: 100% wrong \u2713")
        client.deadline("interop-deadline", 300)
    elif options.command == "asr-stream":
        client.asr_stream(args[0], options.model, options.chunk_ms, options.interim, options.realtime)
    elif options.command == "asr-recognize":
        client.asr_recognize(args[0], options.model)
    elif options.command == "asr-models":
        client.asr_models()
    else:
        parser.error("unknown command " + options.command)
    client.channel.close()


if __name__ == "__main__":
    sys.exit(main())
