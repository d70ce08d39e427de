namespace SharpCnn.Cli;

/// <summary>Something to run in the precision the user chose.</summary>
internal interface IPrecisionAction
{
    int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>Turns <c>--precision float|double</c> into the generic type argument.</summary>
internal static class Precision
{
    /// <summary>"float" or "double" for the accepted spellings; throws for anything else.</summary>
    public static string Canonical(string precision) => precision.ToLowerInvariant() switch
    {
        "float" or "single" or "float32" => "float",
        "double" or "float64" => "double",
        _ => throw new ArgumentException($"--precision must be float or double, not '{precision}'"),
    };

    public static int Dispatch(string precision, IPrecisionAction action) =>
        Canonical(precision) == "float" ? action.Invoke<float>() : action.Invoke<double>();
}
