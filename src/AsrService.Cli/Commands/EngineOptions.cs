using System.CommandLine;
using AsrService.Core.Models;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Onnx;

namespace AsrService.Cli.Commands;

/// <summary>Everything needed to load the recognition engine, as parsed from the command line.</summary>
internal sealed record EngineSettings(string Model, InferenceOptions Inference, VadOptions Vad, int ParallelDecodes = 1, int BatchSize = 1)
{
    /// <summary>
    /// The decode groups of an offline run with <see cref="BatchSize"/> above 1: <see cref="ParallelDecodes"/> slots,
    /// each decoding up to that many segments with their decoder steps batched; null decodes each segment alone.
    /// </summary>
    public DecodeScheduler? CreateBatchScheduler(ISpeechRecognizer recognizer)
    {
        if (BatchSize == 1)
        {
            return null;
        }

        recognizer.PrepareGroupDecoding();
        return new DecodeScheduler(ParallelDecodes, BatchSize, recognizer.CreateSession);
    }

    /// <summary>Segments (or files) to keep in flight: one per decode, or enough for the batches to fill.</summary>
    public int InFlight => Math.Min(OfflineTranscriber.MaxParallelDecodes, ParallelDecodes * BatchSize);
}

/// <summary>The model, inference and voice-activity options shared by every command that runs a model.</summary>
internal sealed class EngineOptions
{
    private readonly Option<string> _model = new("--model", "-m")
    {
        Description = "Model name (tiny, base, tiny-fp32) or a folder holding encoder_model.onnx and decoder_model_merged.onnx.",
        DefaultValueFactory = _ => OnnxSpeechModels.DefaultModel,
    };

    private readonly Option<int> _threads = new("--threads", "-t")
    {
        Description = "Threads per ONNX Runtime run (default 1: offline runs --parallel decodes at once, the server one decode per core).",
    };

    private readonly Option<ExecutionProviderKind> _provider = new("--provider")
    {
        Description = "Execution provider: cpu, cuda, or auto (CUDA when it loads, else CPU).",
        DefaultValueFactory = _ => ExecutionProviderKind.Cpu,
    };

    private readonly Option<bool> _noGraphRewrites = new("--no-graph-rewrites")
    {
        Description = "Load the models exactly as downloaded, without the load-time CPU graph rewrites (for comparisons).",
    };

    private readonly Option<string?> _onnxProfile = new("--onnx-profile")
    {
        Description = "Folder for ONNX Runtime's profile of each model session (Chrome trace JSON, written when the command ends), to see where the time goes on this machine. Slows every run.",
        HelpName = "folder",
    };

    private readonly Option<bool> _noIncrementalInterims = new("--no-incremental-interims")
    {
        Description = "Re-encode an open segment whole for every interim update instead of keeping the encoder stem and encoding of the previous update: less memory per stream with interims (up to 592 KB per second of open segment on tiny), more CPU.",
    };

    private readonly Option<double> _interimEncoderWindow = new("--interim-encoder-window")
    {
        Description = "Seconds at the end of an open segment that an interim update encodes again besides the new audio; earlier frames keep the encoding of an earlier update (an approximation that finals never use). 0 encodes the whole segment at every update.",
        DefaultValueFactory = _ => new InferenceOptions().InterimEncoderWindowSeconds,
    };

    private readonly Option<int> _beamSize = new("--beam-size")
    {
        Description = "Beams for final results (1 = greedy; more searches several hypotheses in one batched decoder call per token). Interims stay greedy.",
        DefaultValueFactory = _ => 1,
    };

    private readonly Option<int> _parallel = new("--parallel", "-j")
    {
        Description = "Offline: decodes run at once, each on its own session with --threads threads (segments of a file for transcribe, files for eval; default: one per core).",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    private readonly Option<int> _batchSize = new("--batch-size", "-b")
    {
        Description = $"Offline: segments one decode runs together, their decoder steps batched in one call per token (same transcripts; 1-{DecodeScheduler.MaxFinalsPerDecode}, 1: each alone). Segments that close while a batch decodes join it.",
        DefaultValueFactory = _ => 1,
    };

    private bool _offline;

    private readonly Option<float> _vadThreshold = new("--vad-threshold")
    {
        Description = "Speech probability at which a segment starts (0-1).",
    };

    private readonly Option<int> _minSilenceMs = new("--min-silence-ms")
    {
        Description = "Silence that closes a segment, in milliseconds.",
    };

    private readonly Option<int> _minSpeechMs = new("--min-speech-ms")
    {
        Description = "Shortest speech kept, in milliseconds.",
    };

    private readonly Option<int> _speechPadMs = new("--speech-pad-ms")
    {
        Description = "Audio kept before and after each segment, in milliseconds.",
    };

    private readonly Option<int?> _leadingPadMs = new("--leading-pad-ms")
    {
        Description = "Audio kept before each segment, in milliseconds, if different from --speech-pad-ms.",
    };

    private readonly Option<double> _maxSegmentSeconds = new("--max-segment-s")
    {
        Description = "Longest segment, in seconds; longer speech is split at its quietest point.",
    };

    private EngineOptions(VadOptions defaults, int threads)
    {
        _threads.DefaultValueFactory = _ => threads;
        _vadThreshold.DefaultValueFactory = _ => defaults.Threshold;
        _minSilenceMs.DefaultValueFactory = _ => (int)defaults.MinSilence.TotalMilliseconds;
        _minSpeechMs.DefaultValueFactory = _ => (int)defaults.MinSpeech.TotalMilliseconds;
        _speechPadMs.DefaultValueFactory = _ => (int)defaults.SpeechPad.TotalMilliseconds;
        _leadingPadMs.DefaultValueFactory = _ => defaults.LeadingPad is { } lead ? (int)lead.TotalMilliseconds : null;
        _maxSegmentSeconds.DefaultValueFactory = _ => defaults.MaxSegment.TotalSeconds;
    }

    /// <summary>Adds the options to <paramref name="command"/>; <paramref name="streaming"/> picks the streaming VAD
    /// defaults (shorter closing silence, for latency) rather than the offline ones.</summary>
    public static EngineOptions AddTo(Command command, bool streaming = false)
    {
        // One thread per decode and one decode per core, offline as when serving. On the dev set (tiny, 2 cores):
        // 2 threads per run, files in turn: RTF 0.0269, 23.4 CPU s; 1 thread, files in turn: 0.0236, 11.1 CPU s;
        // 1 thread, 2 files at once: 0.0137, 11.8 CPU s. A second intra-op thread costs twice the CPU for little or
        // no speed (ONNX Runtime's small nodes leave it spinning; with spinning now off, 0.022-0.024 at 14-16 CPU s);
        // a second decode uses the core fully.
        var options = new EngineOptions(streaming ? new VadOptions() : VadOptions.CreateOffline(), threads: 1);
        command.Options.Add(options._model);
        command.Options.Add(options._threads);
        command.Options.Add(options._provider);
        command.Options.Add(options._noGraphRewrites);
        command.Options.Add(options._onnxProfile);
        command.Options.Add(options._beamSize);
        if (streaming)
        {
            command.Options.Add(options._noIncrementalInterims);
            command.Options.Add(options._interimEncoderWindow);
        }
        else
        {
            options._offline = true;
            command.Options.Add(options._parallel);
            command.Options.Add(options._batchSize);
        }

        command.Options.Add(options._vadThreshold);
        command.Options.Add(options._minSilenceMs);
        command.Options.Add(options._minSpeechMs);
        command.Options.Add(options._speechPadMs);
        command.Options.Add(options._leadingPadMs);
        command.Options.Add(options._maxSegmentSeconds);
        return options;
    }

    public EngineSettings Bind(ParseResult parse)
    {
        var inference = new InferenceOptions
        {
            IntraOpThreads = parse.GetValue(_threads),
            Provider = parse.GetValue(_provider),
            RewriteGraphs = !parse.GetValue(_noGraphRewrites),
            IncrementalInterims = !parse.GetValue(_noIncrementalInterims),
            InterimEncoderWindowSeconds = parse.GetValue(_interimEncoderWindow),
            BeamSize = parse.GetValue(_beamSize),
            ProfileDirectory = parse.GetValue(_onnxProfile),
        };
        var vad = new VadOptions
        {
            Threshold = parse.GetValue(_vadThreshold),
            MinSilence = TimeSpan.FromMilliseconds(parse.GetValue(_minSilenceMs)),
            MinSpeech = TimeSpan.FromMilliseconds(parse.GetValue(_minSpeechMs)),
            SpeechPad = TimeSpan.FromMilliseconds(parse.GetValue(_speechPadMs)),
            LeadingPad = parse.GetValue(_leadingPadMs) is { } lead ? TimeSpan.FromMilliseconds(lead) : null,
            MaxSegment = TimeSpan.FromSeconds(parse.GetValue(_maxSegmentSeconds)),
        };
        inference.Validate();
        vad.Validate();
        if (inference.ProfileDirectory is { } profile)
        {
            try
            {
                Directory.CreateDirectory(profile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"--onnx-profile: cannot create the folder {profile}: {e.Message}", e);
            }
        }

        var parallel = _offline ? parse.GetValue(_parallel) : 1;
        if (parallel is < 1 or > OfflineTranscriber.MaxParallelDecodes)
        {
            throw new ArgumentException($"--parallel must be between 1 and {OfflineTranscriber.MaxParallelDecodes}, got {parallel}");
        }

        var batchSize = _offline ? parse.GetValue(_batchSize) : 1;
        if (batchSize is < 1 or > DecodeScheduler.MaxFinalsPerDecode)
        {
            throw new ArgumentException($"--batch-size must be between 1 and {DecodeScheduler.MaxFinalsPerDecode}, got {batchSize}");
        }

        if (batchSize > 1 && inference.BeamSize > 1)
        {
            throw new ArgumentException("--batch-size batches greedy decodes; it cannot be combined with --beam-size");
        }

        return new EngineSettings(parse.GetRequiredValue(_model), inference, vad, parallel, batchSize);
    }
}

/// <summary>The loaded models: a shared recognizer and voice-activity model.</summary>
internal sealed class Engine : IDisposable
{
    private Engine(MoonshineRecognizer recognizer, SileroVoiceActivityModel voiceActivity)
    {
        Recognizer = recognizer;
        VoiceActivity = voiceActivity;
    }

    public MoonshineRecognizer Recognizer { get; }

    public SileroVoiceActivityModel VoiceActivity { get; }

    public static Engine Load(EngineSettings settings, CancellationToken cancellationToken)
    {
        var cache = new ModelCache(log: message => Console.Error.WriteLine($"asr: {message}"));
        var recognizer = OnnxSpeechModels.LoadRecognizer(settings.Model, settings.Inference, cache, cancellationToken, message => Console.Error.WriteLine($"asr: {message}"));
        try
        {
            return new Engine(recognizer, OnnxSpeechModels.LoadVoiceActivityModel(settings.Inference, cache, cancellationToken));
        }
        catch
        {
            recognizer.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Recognizer.Dispose();
        VoiceActivity.Dispose();
    }
}
