using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>Something to run in the precision the user chose.</summary>
internal interface IPrecisionAction
{
    int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>Turns <c>--precision</c> (see <see cref="Precisions.TryParse"/> for the spellings) into the generic type argument.</summary>
internal static class PrecisionOption
{
    /// <summary>The precision <paramref name="text"/> names; throws naming the option for anything else.</summary>
    public static Precision Parse(string text) =>
        Precisions.TryParse(text, out var precision) ? precision : throw new ArgumentException($"--precision must be float or double, not '{text}'");

    /// <summary>Runs <paramref name="action"/> in <paramref name="precision"/>.</summary>
    public static int Dispatch(Precision precision, IPrecisionAction action) =>
        precision == Precision.Float64 ? action.Invoke<double>() : action.Invoke<float>();

    /// <summary>Runs <paramref name="action"/> in the precision <paramref name="text"/> names.</summary>
    public static int Dispatch(string text, IPrecisionAction action) => Dispatch(Parse(text), action);
}
