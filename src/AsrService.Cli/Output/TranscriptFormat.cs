using System.Globalization;
using System.Text.Json;
using AsrService.Core.Pipeline;

namespace AsrService.Cli.Output;

internal enum TranscriptFormat
{
    Text,
    Json,
    Srt,
    Vtt,
}

/// <summary>The transcript of one input with what it cost to produce.</summary>
internal sealed record FileTranscript(string Source, IReadOnlyList<TranscriptSegment> Segments, TimeSpan Audio, TimeSpan Processing)
{
    public double RealTimeFactor => Audio > TimeSpan.Zero ? Processing / Audio : 0;
}

/// <summary>Writes transcripts as plain text, JSON, SubRip or WebVTT.</summary>
internal static class TranscriptWriter
{
    public static string Extension(TranscriptFormat format) => format switch
    {
        TranscriptFormat.Json => ".json",
        TranscriptFormat.Srt => ".srt",
        TranscriptFormat.Vtt => ".vtt",
        _ => ".txt",
    };

    public static void Write(TextWriter writer, FileTranscript transcript, TranscriptFormat format)
    {
        switch (format)
        {
            case TranscriptFormat.Json:
                WriteJson(writer, transcript);
                break;
            case TranscriptFormat.Srt:
                WriteCues(writer, transcript, srt: true);
                break;
            case TranscriptFormat.Vtt:
                writer.WriteLine("WEBVTT");
                writer.WriteLine();
                WriteCues(writer, transcript, srt: false);
                break;
            default:
                foreach (var segment in transcript.Segments)
                {
                    writer.WriteLine(segment.Text);
                }

                break;
        }
    }

    private static void WriteCues(TextWriter writer, FileTranscript transcript, bool srt)
    {
        var index = 1;
        foreach (var segment in transcript.Segments)
        {
            if (srt)
            {
                writer.WriteLine(index.ToString(CultureInfo.InvariantCulture));
            }

            writer.WriteLine($"{Timestamp(segment.Start, srt)} --> {Timestamp(segment.End, srt)}");
            writer.WriteLine(segment.Text);
            writer.WriteLine();
            index++;
        }
    }

    private static string Timestamp(TimeSpan time, bool srt)
    {
        var separator = srt ? ',' : '.';
        return string.Create(CultureInfo.InvariantCulture, $"{(int)time.TotalHours:00}:{time.Minutes:00}:{time.Seconds:00}{separator}{time.Milliseconds:000}");
    }

    private static void WriteJson(TextWriter writer, FileTranscript transcript)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("source", transcript.Source);
            json.WriteString("text", string.Join(' ', transcript.Segments.Select(s => s.Text)));
            json.WriteStartArray("segments");
            foreach (var segment in transcript.Segments)
            {
                json.WriteStartObject();
                json.WriteNumber("start", Math.Round(segment.Start.TotalSeconds, 3));
                json.WriteNumber("end", Math.Round(segment.End.TotalSeconds, 3));
                json.WriteString("text", segment.Text);
                json.WriteNumber("confidence", Math.Round(segment.Confidence, 4));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("summary");
            json.WriteNumber("audio_seconds", Math.Round(transcript.Audio.TotalSeconds, 3));
            json.WriteNumber("processing_seconds", Math.Round(transcript.Processing.TotalSeconds, 3));
            json.WriteNumber("real_time_factor", Math.Round(transcript.RealTimeFactor, 5));
            json.WriteEndObject();
            json.WriteEndObject();
        }

        writer.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
