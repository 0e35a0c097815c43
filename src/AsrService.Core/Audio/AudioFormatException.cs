namespace AsrService.Core.Audio;

/// <summary>The audio could not be read: truncated, corrupt, or in a format we do not support. The message is one
/// line a user can act on.</summary>
public sealed class AudioFormatException : Exception
{
    public AudioFormatException(string message)
        : base(message)
    {
    }

    public AudioFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
