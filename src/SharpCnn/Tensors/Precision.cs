namespace SharpCnn.Tensors;

/// <summary>The arithmetic a network computes and stores its weights in.</summary>
public enum Precision
{
    /// <summary>IEEE-754 single precision, C#'s <c>float</c>: fast, the usual choice. Model files name it <c>float32</c>.</summary>
    Float32,

    /// <summary>IEEE-754 double precision, C#'s <c>double</c>: for gradient checks and precision studies. Model files name it <c>float64</c>.</summary>
    Float64,
}

/// <summary>
/// The one place <see cref="Precision"/> meets text and types: the names model files store (<c>float32</c>,
/// <c>float64</c>, read strictly), the names people type (also <c>float</c>, <c>single</c> and <c>double</c>,
/// in any case), and the type argument <c>T</c> of the generic code.
/// </summary>
public static class Precisions
{
    /// <summary>The precision of <typeparamref name="T"/>.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither float nor double.</exception>
    public static Precision Of<T>() =>
        typeof(T) == typeof(float) ? Precision.Float32
        : typeof(T) == typeof(double) ? Precision.Float64
        : throw new NotSupportedException($"SharpCnn computes in float or double, not {typeof(T).Name}");

    /// <summary>The name model files and checkpoints store: <c>float32</c> or <c>float64</c>.</summary>
    public static string FileName(this Precision precision) => precision switch
    {
        Precision.Float32 => "float32",
        Precision.Float64 => "float64",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>The C# type's name, as the command line shows it: <c>float</c> or <c>double</c>.</summary>
    public static string TypeName(this Precision precision) => precision switch
    {
        Precision.Float32 => "float",
        Precision.Float64 => "double",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>Bytes per value: 4 or 8.</summary>
    public static int Size(this Precision precision) => precision switch
    {
        Precision.Float32 => 4,
        Precision.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>Reads a name a file stores, exactly as <see cref="FileName"/> writes it; false for anything else.</summary>
    public static bool TryParseFileName(string? text, out Precision precision)
    {
        switch (text)
        {
            case "float32":
                precision = Precision.Float32;
                return true;
            case "float64":
                precision = Precision.Float64;
                return true;
            default:
                precision = default;
                return false;
        }
    }

    /// <summary>Reads a name a person types, in any case: <c>float</c>, <c>float32</c> or <c>single</c>; <c>double</c> or <c>float64</c>.</summary>
    public static bool TryParse(string? text, out Precision precision)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "float" or "float32" or "single":
                precision = Precision.Float32;
                return true;
            case "double" or "float64":
                precision = Precision.Float64;
                return true;
            default:
                precision = default;
                return false;
        }
    }

    /// <summary>Reads a name a person types (see <see cref="TryParse"/>).</summary>
    /// <exception cref="ArgumentException">It names neither precision.</exception>
    public static Precision Parse(string text) =>
        TryParse(text, out var precision) ? precision : throw new ArgumentException($"unknown precision '{text}'; expected float or double", nameof(text));
}
