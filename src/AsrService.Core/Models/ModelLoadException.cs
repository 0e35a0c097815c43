namespace AsrService.Core.Models;

/// <summary>A model could not be found, downloaded, verified or loaded. The message is one line a user can act on.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message)
        : base(message)
    {
    }

    public ModelLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
