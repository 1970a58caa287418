<?php
// A web app's way in (README pos, "A web app's way in"): one pooled login,
// `webapp`, through PgBouncer in transaction pooling mode, acting for two
// cashiers of two branches in alternating transactions with
// SET LOCAL ROLE.  It checks out, catches the insufficient-stock SQLSTATE
// (23M01) and reads its DETAIL, and prints the receipts.  Dates in the
// output are masked (they move with the day the test runs).
// Usage: php pos_webapp.php HOST PORT DBNAME
[$host, $port, $db] = array_slice($argv, 1, 3);
$pdo = new PDO("pgsql:host=$host;port=$port;dbname=$db", 'webapp', '', [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    // PgBouncer 1.18 in transaction mode cannot keep server-side prepared
    // statements across transactions: let PDO interpolate the parameters.
    PDO::ATTR_EMULATE_PREPARES => true,
]);

function mask(string $s): string {
    return preg_replace(['/-\d{8}-/', '/\d{2}-\d{2}-\d{4} \d{2}:\d{2}/'], ['-YYYYMMDD-', 'DD-MM-YYYY hh:mm'], $s);
}

// One transaction for one cashier: SET LOCAL ROLE first, so that row
// security, sale.cashier and the audit trail follow the cashier; the role
// ends with the transaction, before PgBouncer hands the connection on.
function as_cashier(PDO $pdo, string $cashier, callable $work) {
    $pdo->beginTransaction();
    try {
        $pdo->exec('SET LOCAL ROLE ' . $cashier);   // a fixed list of names, never user input
        $result = $work($pdo);
        $pdo->commit();
        return $result;
    } catch (Throwable $e) {
        $pdo->rollBack();
        throw $e;
    }
}

function checkout(PDO $pdo, int $branch, array $lines, array $payments, ?string $key = null): array {
    $st = $pdo->prepare('SELECT mekatek.checkout(:branch, :lines, :payments, NULL, :key) AS receipt');
    $st->execute([':branch' => $branch, ':lines' => json_encode($lines),
                  ':payments' => json_encode($payments), ':key' => $key]);
    return json_decode($st->fetchColumn(), true);
}

$sales = [
    ['regress_web_sari', 1, [['sku' => 'PCT500', 'qty' => '2']], [['method' => 'cash', 'amount' => 20000]], 'sari-1'],
    ['regress_web_joko', 2, [['sku' => 'AMX500', 'qty' => 1]], [['method' => 'qris', 'amount' => 12000, 'reference' => 'QR-J-1']], 'joko-1'],
    ['regress_web_sari', 1, [['sku' => 'AMX500', 'qty' => 1], ['sku' => 'PCT500', 'qty' => 1]], [['method' => 'cash', 'amount' => 50000]], 'sari-2'],
    // more than the stock: the app catches exactly 23M01 and reads the DETAIL
    ['regress_web_joko', 2, [['sku' => 'PCT500', 'qty' => 500]], [['method' => 'cash', 'amount' => 5000000]], 'joko-2'],
    // a retry of sari-1 through another pooled connection: the same sale
    ['regress_web_sari', 1, [['sku' => 'PCT500', 'qty' => '2']], [['method' => 'cash', 'amount' => 20000]], 'sari-1'],
];
foreach ($sales as [$cashier, $branch, $lines, $payments, $key]) {
    try {
        $r = as_cashier($pdo, $cashier, fn($pdo) => checkout($pdo, $branch, $lines, $payments, $key));
        printf("%s at branch %d: sale %d, receipt %s, cashier %s, total %s, change %s\n", $cashier, $branch,
               $r['sale_id'], mask($r['receipt_no']), $r['cashier']['login'], $r['total'], $r['change']);
    } catch (PDOException $e) {
        if ($e->getCode() !== '23M01') throw $e;
        // PDO gives the server's whole message: the DETAIL line is JSON
        preg_match('/^DETAIL:\s+(.*)$/m', $e->errorInfo[2], $m);
        $d = json_decode($m[1], true);
        printf("%s at branch %d: insufficient stock (SQLSTATE %s): sku %s, asked %d, available %d\n",
               $cashier, $branch, $e->getCode(), $d['sku'], $d['asked'], $d['available']);
    }
}

// Without SET LOCAL ROLE the app login has no rights of its own
// (NOINHERIT): it cannot sell as itself.
try {
    checkout($pdo, 1, [['sku' => 'PCT500', 'qty' => 1]], [['method' => 'cash', 'amount' => 5000]]);
} catch (PDOException $e) {
    printf("webapp without SET LOCAL ROLE: SQLSTATE %s: %s\n", $e->getCode(),
           trim(preg_replace('/^SQLSTATE\[\w+\]: [^:]+: \d+ ERROR:\s+/', '', strtok($e->getMessage(), "\n"))));
}

// The receipt of Sari's second sale, for the 58 mm printer.
$text = as_cashier($pdo, 'regress_web_sari', function ($pdo) {
    return $pdo->query("SELECT mekatek.receipt_text(max(sale_id)) FROM mekatek.sale")->fetchColumn();
});
echo mask($text);
// Joko cannot print Sari's receipt: row security follows the cashier.
try {
    as_cashier($pdo, 'regress_web_joko', fn($pdo) => $pdo->query("SELECT mekatek.receipt_text(1)")->fetchColumn());
} catch (PDOException $e) {
    printf("joko asks for sale 1: SQLSTATE %s\n", $e->getCode());
}
