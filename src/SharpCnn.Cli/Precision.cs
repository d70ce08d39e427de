namespace SharpCnn.Cli;

/// <summary>Something to run in the precision the user chose.</summary>
internal interface IPrecisionAction
{
    int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>Turns <c>--precision float|double</c> into the generic type argument.</summary>
internal static class Precision
{
    public static int Dispatch(string precision, IPrecisionAction action) => precision.ToLowerInvariant() switch
    {
        "float" or "single" or "float32" => action.Invoke<float>(),
        "double" or "float64" => action.Invoke<double>(),
        _ => throw new ArgumentException($"--precision must be float or double, not '{precision}'"),
    };
}
