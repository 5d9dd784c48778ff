with s as (select * from {{ ref('stg_sales') }}), t as (select s.*, amount * 2 as double_amount from s)
select t.* from t
