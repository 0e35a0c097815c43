using System.CommandLine;
using System.Diagnostics;
using AsrService.Cli.Output;
using AsrService.Core.Audio;
using AsrService.Core.Pipeline;

namespace AsrService.Cli.Commands;

/// <summary><c>asr transcribe FILE...</c>: offline transcription of files or standard input.</summary>
internal static class TranscribeCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("files")
        {
            Description = "Audio or video files to transcribe (WAV in-process; FLAC, MP3, Ogg/Opus, M4A, video through ffmpeg); '-' reads standard input.",
            Arity = ArgumentArity.OneOrMore,
        };
        var format = new Option<TranscriptFormat>("--format", "-f")
        {
            Description = "Output format: text, json (segments and a timing summary), srt or vtt.",
            DefaultValueFactory = _ => TranscriptFormat.Text,
        };
        var outputDirectory = new Option<DirectoryInfo?>("--output-dir", "-o")
        {
            Description = "Write one transcript per input into this folder (NAME.txt/.json/.srt/.vtt) instead of standard output.",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar." };

        var command = new Command("transcribe", "Transcribe audio files offline.") { files, format, outputDirectory, quiet };
        var engineOptions = EngineOptions.AddTo(command);
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            parse.GetRequiredValue(files),
            parse.GetValue(format),
            parse.GetValue(outputDirectory),
            parse.GetValue(quiet),
            engineOptions.Bind(parse),
            cancellationToken)));
        return command;
    }

    private static int Run(string[] files, TranscriptFormat format, DirectoryInfo? outputDirectory, bool quiet, EngineSettings settings, CancellationToken cancellationToken)
    {
        if (files.Count(f => f == "-") > 1)
        {
            return CliErrors.Usage("standard input ('-') can be read only once");
        }

        using var engine = Engine.Load(settings, cancellationToken);
        var transcriber = new OfflineTranscriber(
            engine.Recognizer, engine.VoiceActivity, settings.Vad, settings.CreateBatchScheduler(engine.Recognizer), settings.InFlight);
        var failures = 0;
        var transcripts = new List<FileTranscript>();
        foreach (var file in files)
        {
            try
            {
                var transcript = TranscribeOne(transcriber, file, quiet, cancellationToken);
                if (outputDirectory is not null)
                {
                    outputDirectory.Create();
                    var name = file == "-" ? "stdin" : Path.GetFileNameWithoutExtension(file);
                    using var writer = new StreamWriter(Path.Combine(outputDirectory.FullName, name + TranscriptWriter.Extension(format)));
                    TranscriptWriter.Write(writer, transcript, format);
                }
                else
                {
                    if (files.Length > 1 && format != TranscriptFormat.Json)
                    {
                        Console.Out.WriteLine(format == TranscriptFormat.Text ? $"# {file}" : $"NOTE {file}");
                    }

                    TranscriptWriter.Write(Console.Out, transcript, format);
                }

                transcripts.Add(transcript);
            }
            catch (AudioFormatException e)
            {
                failures++;
                CliErrors.Report($"{file}: {e.Message}");
            }
        }

        return failures == 0 ? ExitCodes.Success : ExitCodes.BadInput;
    }

    private static FileTranscript TranscribeOne(OfflineTranscriber transcriber, string file, bool quiet, CancellationToken cancellationToken)
    {
        using var audio = AudioFile.Open(file);
        using var progress = ProgressBar.Create(file == "-" ? "stdin" : Path.GetFileName(file), AudioFile.TryGetDuration(file), enabled: !quiet);
        var counter = new AudioCounter(progress);
        var clock = Stopwatch.StartNew();
        var segments = transcriber.Transcribe(audio, counter, cancellationToken).ToList();
        clock.Stop();
        return new FileTranscript(file, segments, counter.Latest, clock.Elapsed);
    }

    /// <summary>Remembers how much audio was read, for the summary, and forwards it to the progress bar.</summary>
    private sealed class AudioCounter(IProgress<TimeSpan>? inner) : IProgress<TimeSpan>
    {
        public TimeSpan Latest { get; private set; }

        public void Report(TimeSpan value)
        {
            Latest = value;
            inner?.Report(value);
        }
    }
}
