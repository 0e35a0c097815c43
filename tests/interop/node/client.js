#!/usr/bin/env node
// Interop client for AsrService's gRPC server, built on @grpc/grpc-js and @grpc/proto-loader: a gRPC stack nobody on
// this project wrote, so passing calls through it shows the server speaks the protocol, not just our own client's
// reading of it. Protos are loaded at run time from --proto-path folders, so new services need no code generation.
//
// Usage: node client.js HOST:PORT [--proto-path DIR]... COMMAND [ARGS]
//   health [SERVICE]            grpc.health.v1.Health/Check ("" = whole server)
//   echo TEXT                   asrtest.v1.TestService/Echo (unary)
//   accumulate N                asrtest.v1.TestService/Accumulate (duplex): sends 1..N while reading running sums
//   fail CODE DETAIL            asrtest.v1.TestService/Fail: the server ends the call with that status
//   deadline KEY MS             asrtest.v1.TestService/Slow with a deadline of MS: expects DEADLINE_EXCEEDED
//   suite                       health, echo, accumulate 200, fail, deadline: what the xunit interop test runs
//   asr-stream WAV [--model M] [--chunk-ms MS] [--interim] [--realtime]
//                               asr.v1.Asr/StreamingRecognize: config first, then the WAV's samples in chunks
//   asr-recognize FILE [--model M]   asr.v1.Asr/Recognize with the whole file as ENCODED_FILE
//   asr-models                  asr.v1.Asr/ListModels
// Every result is printed as one JSON object per line on stdout; the exit code is 0 unless a call failed unexpectedly.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_FILES = ['grpc/health/v1/health.proto', 'asrtest/v1/test_service.proto', 'asr/v1/asr.proto'];
const DEFAULT_PROTO_PATHS = [
  path.resolve(__dirname, '../../../protos'),
  path.resolve(__dirname, '../../AsrService.Grpc.Tests/Protos'),
];

function parseArgs(argv) {
  const positional = [];
  const options = { protoPaths: [], model: '', chunkMs: 100, interim: false, realtime: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--proto-path') options.protoPaths.push(argv[++i]);
    else if (arg === '--model') options.model = argv[++i];
    else if (arg === '--chunk-ms') options.chunkMs = Number(argv[++i]);
    else if (arg === '--interim') options.interim = true;
    else if (arg === '--realtime') options.realtime = true;
    else positional.push(arg);
  }
  if (options.protoPaths.length === 0) options.protoPaths = DEFAULT_PROTO_PATHS;
  return { positional, options };
}

function loadPackages(protoPaths) {
  // Load only the files that exist in the given folders, so a folder without the test protos still works.
  const files = PROTO_FILES.filter((file) => protoPaths.some((dir) => fs.existsSync(path.join(dir, file))));
  const definition = protoLoader.loadSync(files, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: protoPaths,
  });
  return grpc.loadPackageDefinition(definition);
}

function print(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

function statusOf(error) {
  return { code: error.code, details: error.details };
}

function unary(client, method, request, deadlineMs = 10000) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function health(pkgs, target, service = '') {
  const client = new pkgs.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
  try {
    const response = await unary(client, 'Check', { service });
    print({ command: 'health', service, status: response.status });
  } catch (error) {
    print({ command: 'health', service, error: statusOf(error) });
  } finally {
    client.close();
  }
}

async function echo(pkgs, target, text) {
  const client = new pkgs.asrtest.v1.TestService(target, grpc.credentials.createInsecure());
  try {
    const response = await unary(client, 'Echo', { text, response_payload_size: 1000 });
    print({ command: 'echo', text: response.text, payloadBytes: response.payload.length });
  } finally {
    client.close();
  }
}

function accumulate(pkgs, target, count) {
  const client = new pkgs.asrtest.v1.TestService(target, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    const call = client.Accumulate({ deadline: Date.now() + 20000 });
    let responses = 0;
    let lastSum = '0';
    let inOrder = true;
    call.on('data', (response) => {
      responses++;
      if (Number(response.count) !== responses) inOrder = false;
      lastSum = response.sum;
    });
    call.on('error', (error) => {
      print({ command: 'accumulate', error: statusOf(error) });
      client.close();
      resolve();
    });
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) {
        print({ command: 'accumulate', sent: count, responses, sum: lastSum, inOrder, code: status.code });
        client.close();
        resolve();
      }
    });
    for (let i = 1; i <= count; i++) call.write({ value: String(i) });
    call.end();
  });
}

async function fail(pkgs, target, code, detail) {
  const client = new pkgs.asrtest.v1.TestService(target, grpc.credentials.createInsecure());
  try {
    await unary(client, 'Fail', { code: Number(code), detail });
    print({ command: 'fail', error: null });
  } catch (error) {
    print({ command: 'fail', code: error.code, details: error.details });
  } finally {
    client.close();
  }
}

async function deadline(pkgs, target, key, ms) {
  const client = new pkgs.asrtest.v1.TestService(target, grpc.credentials.createInsecure());
  try {
    await unary(client, 'Slow', { key }, ms);
    print({ command: 'deadline', error: null });
  } catch (error) {
    print({ command: 'deadline', code: error.code, details: error.details });
  } finally {
    client.close();
  }
}

// Reads a PCM WAV file: returns { sampleRate, channels, bitsPerSample, format, data } with data the raw sample bytes.
function readWav(file) {
  const buffer = fs.readFileSync(file);
  if (buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${file} is not a RIFF/WAVE file`);
  }
  let offset = 12;
  let fmt = null;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buffer.readUInt16LE(body),
        channels: buffer.readUInt16LE(body + 2),
        sampleRate: buffer.readUInt32LE(body + 4),
        bitsPerSample: buffer.readUInt16LE(body + 14),
      };
    } else if (id === 'data' && fmt) {
      return { ...fmt, data: buffer.subarray(body, Math.min(body + size, buffer.length)) };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${file} has no fmt/data chunks`);
}

function encodingOf(wav) {
  // WAVE_FORMAT_PCM = 1, IEEE_FLOAT = 3, ALAW = 6, MULAW = 7.
  if (wav.format === 1 && wav.bitsPerSample === 16) return 'LINEAR16';
  if (wav.format === 3 && wav.bitsPerSample === 32) return 'FLOAT32';
  if (wav.format === 6) return 'ALAW';
  if (wav.format === 7) return 'MULAW';
  throw new Error(`unsupported WAV format ${wav.format} with ${wav.bitsPerSample} bits; convert with ffmpeg -ar 16000 -ac 1 -c:a pcm_s16le`);
}

function asrStream(pkgs, target, file, options) {
  const wav = readWav(file);
  const client = new pkgs.asr.v1.Asr(target, grpc.credentials.createInsecure());
  const bytesPerSecond = wav.sampleRate * wav.channels * (wav.bitsPerSample / 8);
  const chunkBytes = Math.max(wav.channels * (wav.bitsPerSample / 8), Math.round((bytesPerSecond * options.chunkMs) / 1000));
  return new Promise((resolve) => {
    const call = client.StreamingRecognize();
    let finals = 0;
    call.on('data', (response) => {
      for (const result of response.results) {
        if (result.is_final) finals++;
      }
      print({ command: 'asr-stream', response });
    });
    call.on('error', (error) => {
      print({ command: 'asr-stream', error: statusOf(error) });
      client.close();
      resolve();
    });
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) {
        print({ command: 'asr-stream', done: true, finals, code: status.code });
        client.close();
        resolve();
      }
    });
    call.write({
      streaming_config: {
        config: {
          encoding: encodingOf(wav),
          sample_rate_hertz: wav.sampleRate,
          audio_channel_count: wav.channels,
          model: options.model,
          request_id: `node-${process.pid}`,
        },
        interim_results: options.interim,
        enable_voice_activity_events: true,
      },
    });
    (async () => {
      for (let offset = 0; offset < wav.data.length; offset += chunkBytes) {
        call.write({ audio_content: wav.data.subarray(offset, offset + chunkBytes) });
        if (options.realtime) await new Promise((r) => setTimeout(r, options.chunkMs));
      }
      call.end();
    })();
  });
}

async function asrRecognize(pkgs, target, file, options) {
  const client = new pkgs.asr.v1.Asr(target, grpc.credentials.createInsecure());
  try {
    const response = await unary(client, 'Recognize', {
      config: { encoding: 'ENCODED_FILE', model: options.model, request_id: `node-${process.pid}` },
      audio_content: fs.readFileSync(file),
    }, 600000);
    print({ command: 'asr-recognize', response });
  } catch (error) {
    print({ command: 'asr-recognize', error: statusOf(error) });
  } finally {
    client.close();
  }
}

async function asrModels(pkgs, target) {
  const client = new pkgs.asr.v1.Asr(target, grpc.credentials.createInsecure());
  try {
    print({ command: 'asr-models', response: await unary(client, 'ListModels', {}) });
  } catch (error) {
    print({ command: 'asr-models', error: statusOf(error) });
  } finally {
    client.close();
  }
}

async function main() {
  const { positional, options } = parseArgs(process.argv.slice(2));
  const [target, command, ...args] = positional;
  if (!target || !command) {
    process.stderr.write('usage: node client.js HOST:PORT [--proto-path DIR]... COMMAND [ARGS]\n');
    process.exit(2);
  }
  const pkgs = loadPackages(options.protoPaths);
  switch (command) {
    case 'health': return health(pkgs, target, args[0] ?? '');
    case 'echo': return echo(pkgs, target, args[0] ?? '');
    case 'accumulate': return accumulate(pkgs, target, Number(args[0] ?? 100));
    case 'fail': return fail(pkgs, target, args[0], args[1] ?? '');
    case 'deadline': return deadline(pkgs, target, args[0] ?? 'interop-deadline', Number(args[1] ?? 300));
    case 'suite':
      await health(pkgs, target, '');
      await health(pkgs, target, 'no.such.Service');
      await echo(pkgs, target, 'hello from grpc-js');
      await accumulate(pkgs, target, 200);
      await fail(pkgs, target, 3, 'bad config: 100% wrong ✓');
      await deadline(pkgs, target, 'interop-deadline', 300);
      return undefined;
    case 'asr-stream': return asrStream(pkgs, target, args[0], options);
    case 'asr-recognize': return asrRecognize(pkgs, target, args[0], options);
    case 'asr-models': return asrModels(pkgs, target);
    default:
      process.stderr.write(`unknown command ${command}\n`);
      process.exit(2);
  }
  return undefined;
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
