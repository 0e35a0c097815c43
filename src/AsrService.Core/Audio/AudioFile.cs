namespace AsrService.Core.Audio;

/// <summary>Helpers for reading audio sources.</summary>
public static class AudioFile
{
    /// <summary>Reads a source to its end.</summary>
    public static float[] ReadAll(IAudioSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var samples = new float[16 * 1024];
        int count = 0;
        while (true)
        {
            if (count == samples.Length)
            {
                Array.Resize(ref samples, samples.Length * 2);
            }

            int read = source.Read(samples.AsSpan(count));
            if (read == 0)
            {
                return samples.AsSpan(0, count).ToArray();
            }

            count += read;
        }
    }
}
