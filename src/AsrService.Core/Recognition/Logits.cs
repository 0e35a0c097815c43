using System.Numerics.Tensors;

namespace AsrService.Core.Recognition;

/// <summary>Log-probabilities read from a row of logits in place, without allocating.</summary>
public static class Logits
{
    /// <summary>
    /// log(sum(exp(logits))), computed as max + log(sum(exp(logits - max))) so that it cannot overflow;
    /// <c>logits[t] - LogSumExp(logits)</c> is the log-probability of token t. <paramref name="scratch"/> must hold a row.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<float> logits, Span<float> scratch)
    {
        var max = TensorPrimitives.Max(logits);
        var shifted = scratch[..logits.Length];
        TensorPrimitives.Subtract(logits, max, shifted);
        TensorPrimitives.Exp(shifted, shifted);
        return max + Math.Log(TensorPrimitives.Sum(shifted));
    }
}
