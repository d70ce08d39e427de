namespace SharpCnn.Layers;

/// <summary>
/// Connection tables for <see cref="Conv2d{T}"/>: table[o, c] says whether input map c
/// feeds output map o. Written in a spec as rows of 0/1 per output map separated by
/// dots (<c>table=1110.0111</c>: 2 outputs, 4 inputs) or by name (<c>table=lenet5</c>).
/// </summary>
public static class ConnectionTables
{
    /// <summary>
    /// LeNet-5's C3 table (LeCun et al. 1998, Table I): 16 output maps from 6 input maps.
    /// Maps 0-5 read 3 neighbouring inputs, 6-11 read 4 neighbouring inputs, 12-14 read
    /// 4 non-neighbouring inputs and map 15 reads all 6: 60 connections.
    /// </summary>
    public static bool[,] LeNet5C3()
    {
        int[][] inputs =
        [
            [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],
            [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],
            [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
            [0, 1, 2, 3, 4, 5],
        ];
        var table = new bool[16, 6];
        for (int o = 0; o < inputs.Length; o++)
            foreach (int c in inputs[o])
                table[o, c] = true;
        return table;
    }

    /// <summary>Looks up a named table; null when the name is unknown.</summary>
    public static bool[,]? Named(string name) => name switch
    {
        "lenet5" => LeNet5C3(),
        _ => null,
    };

    /// <summary>Parses rows of 0/1 separated by dots; throws FormatException naming the problem.</summary>
    public static bool[,] Parse(string text)
    {
        string[] rows = text.Split('.');
        int cols = rows[0].Length;
        if (cols == 0) throw new FormatException("connection table row 1 is empty");
        var table = new bool[rows.Length, cols];
        for (int o = 0; o < rows.Length; o++)
        {
            if (rows[o].Length != cols) throw new FormatException($"connection table row {o + 1} has {rows[o].Length} entries, row 1 has {cols}");
            bool any = false;
            for (int c = 0; c < cols; c++)
            {
                char ch = rows[o][c];
                if (ch != '0' && ch != '1') throw new FormatException($"connection table row {o + 1} has '{ch}'; only 0 and 1 are allowed");
                table[o, c] = ch == '1';
                any |= ch == '1';
            }
            if (!any) throw new FormatException($"connection table row {o + 1} connects no input map");
        }
        return table;
    }

    /// <summary>Writes a table in the form <see cref="Parse"/> reads.</summary>
    public static string Format(bool[,] table)
    {
        var rows = new string[table.GetLength(0)];
        for (int o = 0; o < rows.Length; o++)
        {
            var chars = new char[table.GetLength(1)];
            for (int c = 0; c < chars.Length; c++) chars[c] = table[o, c] ? '1' : '0';
            rows[o] = new string(chars);
        }
        return string.Join('.', rows);
    }
}
